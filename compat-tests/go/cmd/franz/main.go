// Command franz runs franz-go (kgo, kadm) scenarios against a broker and prints one
// JSON line each:
//
//	franz -bootstrap HOST:PORT -prefix NAMEPREFIX scenario...
//
// Each scenario creates its topics with kadm. franz-go negotiates: it uses the
// highest version of each request that both sides know.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"kafkacompat/gocompat/internal/report"
	"kafkacompat/gocompat/internal/security"
)

var (
	bootstrap = flag.String("bootstrap", "127.0.0.1:9092", "broker host:port")
	prefix    = flag.String("prefix", "franz", "topic and group name prefix")
	maxVer    = flag.String("max-versions", "", "pin kgo.MaxVersions to a Kafka release (e.g. 0.10.2), as an old broker would cap them")
)

func main() {
	flag.Parse()
	scenarios := map[string]func(context.Context) (any, error){
		"produce_consume": produceConsume,
		"group_commit":    groupCommit,
		"admin_topics":    adminTopics,
		"admin_groups":    adminGroups,
		"transactions":    transactions,
		"many_partitions": manyPartitions,
		"roundtrip":       roundtrip,
	}
	for _, name := range flag.Args() {
		fn, ok := scenarios[name]
		if !ok {
			fmt.Fprintln(os.Stderr, "unknown scenario", name)
			os.Exit(2)
		}
		client := "franz-go"
		if *maxVer != "" {
			client += "@" + *maxVer
		}
		report.Run(client, name, func() (any, error) {
			ctx, cancel := context.WithTimeout(context.Background(), report.Deadline)
			defer cancel()
			return fn(ctx)
		})
	}
}

func newClient(opts ...kgo.Opt) (*kgo.Client, error) {
	base := []kgo.Opt{
		kgo.SeedBrokers(*bootstrap),
		kgo.ClientID("kafka-compat-franz"),
		kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	}
	if *maxVer != "" {
		base = append(base, kgo.MaxVersions(kversion.FromString(*maxVer)))
		if !kversion.FromString(*maxVer).HasKey(22) { // no InitProducerId: no idempotence
			base = append(base, kgo.DisableIdempotentWrite())
		}
	}
	tlsConfig, err := security.TLSConfig()
	if err != nil {
		return nil, err
	}
	if tlsConfig != nil {
		base = append(base, kgo.DialTLSConfig(tlsConfig))
	}
	if *security.Mechanism != "" {
		mechanism, err := saslMechanism()
		if err != nil {
			return nil, err
		}
		base = append(base, kgo.SASL(mechanism))
	}
	return kgo.NewClient(append(base, opts...)...)
}

func saslMechanism() (sasl.Mechanism, error) {
	switch *security.Mechanism {
	case "PLAIN":
		return plain.Auth{User: *security.User, Pass: *security.Password}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: *security.User, Pass: *security.Password}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: *security.User, Pass: *security.Password}.AsSha512Mechanism(), nil
	case "OAUTHBEARER":
		return oauth.Auth{Token: *security.Token}.AsMechanism(), nil
	}
	return nil, fmt.Errorf("unknown SASL mechanism %q", *security.Mechanism)
}

// roundtrip: five records "m0".."m4" to a new topic, read back in a consumer group
// (over whatever TLS/SASL the flags set).
func roundtrip(ctx context.Context) (any, error) {
	topic := *prefix + "-roundtrip"
	cl, err := newClient(kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	if err := createTopic(ctx, kadm.NewClient(cl), topic, 1, nil); err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	var recs []*kgo.Record
	for i := 0; i < 5; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: 0, Value: []byte(fmt.Sprintf("m%d", i))})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return nil, fmt.Errorf("produce: %w", err)
	}
	consumer, err := newClient(
		kgo.ConsumerGroup(topic+"-group"),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		return nil, err
	}
	defer consumer.Close()
	got, err := poll(ctx, consumer, 5)
	values := []string{}
	for _, r := range got {
		values = append(values, r.Value)
	}
	return map[string]any{"values": values}, err
}

func createTopic(ctx context.Context, adm *kadm.Client, topic string, partitions int32, configs map[string]*string) error {
	resp, err := adm.CreateTopic(ctx, partitions, 1, configs, topic)
	if err != nil {
		return err
	}
	return resp.Err
}

type consumed struct {
	Partition int32             `json:"partition"`
	Offset    int64             `json:"offset"`
	Key       string            `json:"key"`
	Value     string            `json:"value"`
	Timestamp int64             `json:"timestamp"`
	Headers   map[string]string `json:"headers,omitempty"`
}

func toConsumed(r *kgo.Record) consumed {
	c := consumed{Partition: r.Partition, Offset: r.Offset, Key: string(r.Key), Value: string(r.Value), Timestamp: r.Timestamp.UnixMilli()}
	if len(r.Headers) > 0 {
		c.Headers = map[string]string{}
		for _, h := range r.Headers {
			c.Headers[h.Key] = string(h.Value)
		}
	}
	return c
}

// poll reads n records from a client, failing on fetch errors or the deadline.
func poll(ctx context.Context, cl *kgo.Client, n int) ([]consumed, error) {
	var out []consumed
	for len(out) < n {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return out, fmt.Errorf("%d of %d records: %w", len(out), n, ctx.Err())
		}
		for _, fe := range fetches.Errors() {
			return out, fmt.Errorf("fetch %s/%d: %w", fe.Topic, fe.Partition, fe.Err)
		}
		fetches.EachRecord(func(r *kgo.Record) { out = append(out, toConsumed(r)) })
	}
	return out, nil
}

var baseTime = time.UnixMilli(1_700_000_000_000)

// produceConsume: idempotent ProduceSync of keyed records with headers and
// timestamps, one batch per codec, then ConsumePartitions from the start and from an
// offset, and ListOffsets by time.
func produceConsume(ctx context.Context) (any, error) {
	topic := *prefix + "-produce"
	admCl, err := newClient()
	if err != nil {
		return nil, err
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	if err := createTopic(ctx, adm, topic, 2, nil); err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	res := map[string]any{}
	codecs := []struct {
		name  string
		codec kgo.CompressionCodec
	}{{"none", kgo.NoCompression()}, {"gzip", kgo.GzipCompression()}, {"snappy", kgo.SnappyCompression()}, {"lz4", kgo.Lz4Compression()}, {"zstd", kgo.ZstdCompression()}}
	offsets := map[string][]int64{}
	i := 0
	for _, c := range codecs {
		cl, err := newClient(kgo.ProducerBatchCompression(c.codec), kgo.RequiredAcks(kgo.AllISRAcks()))
		if err != nil {
			return nil, err
		}
		var recs []*kgo.Record
		for j := 0; j < 4; j++ {
			recs = append(recs, &kgo.Record{
				Topic: topic, Partition: int32(j % 2),
				Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("%s-%d", c.name, j)),
				Timestamp: baseTime.Add(time.Duration(i) * time.Second),
				Headers:   []kgo.RecordHeader{{Key: "codec", Value: []byte(c.name)}},
			})
			i++
		}
		results := cl.ProduceSync(ctx, recs...)
		cl.Close()
		if err := results.FirstErr(); err != nil {
			return nil, fmt.Errorf("produce %s: %w", c.name, err)
		}
		for _, r := range results {
			offsets[c.name] = append(offsets[c.name], r.Record.Offset)
		}
	}
	res["produced_offsets"] = offsets

	cl, err := newClient(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {0: kgo.NewOffset().AtStart(), 1: kgo.NewOffset().At(7)},
	}))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	recs, err := poll(ctx, cl, 13)
	if err != nil {
		return res, err
	}
	byPartition := map[string][]consumed{}
	for _, r := range recs {
		k := strconv.Itoa(int(r.Partition))
		byPartition[k] = append(byPartition[k], r)
	}
	res["consumed"] = byPartition
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return res, err
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return res, err
	}
	after, err := adm.ListOffsetsAfterMilli(ctx, baseTime.Add(5500*time.Millisecond).UnixMilli(), topic)
	if err != nil {
		return res, err
	}
	listed := map[string]map[string]int64{"end": {}, "start": {}, "after_5500ms": {}}
	for name, l := range map[string]kadm.ListedOffsets{"end": ends, "start": starts, "after_5500ms": after} {
		if err := l.Error(); err != nil {
			return res, fmt.Errorf("list %s offsets: %w", name, err)
		}
		l.Each(func(o kadm.ListedOffset) { listed[name][strconv.Itoa(int(o.Partition))] = o.Offset })
	}
	res["listed_offsets"] = listed
	return res, nil
}

// groupCommit: a group member consumes, commits what it polled, leaves; kadm reads the
// committed offsets; a second member resumes from them.
func groupCommit(ctx context.Context) (any, error) {
	topic, group := *prefix+"-group", *prefix+"-g"
	admCl, err := newClient()
	if err != nil {
		return nil, err
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	if err := createTopic(ctx, adm, topic, 3, nil); err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	if err := produce(ctx, topic, 3, "first", 9); err != nil {
		return nil, err
	}
	res := map[string]any{}
	member := func(want int) ([]string, error) {
		cl, err := newClient(kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			return nil, err
		}
		defer cl.Close() // leaves the group
		recs, err := poll(ctx, cl, want)
		if err != nil {
			return nil, err
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			return nil, fmt.Errorf("commit: %w", err)
		}
		var values []string
		for _, r := range recs {
			values = append(values, r.Value)
		}
		sort.Strings(values)
		return values, nil
	}
	first, err := member(9)
	res["first"] = first
	if err != nil {
		return res, err
	}
	committed, err := fetchOffsets(ctx, admCl, group, topic, 3)
	res["committed"] = committed
	if err != nil {
		return res, err
	}
	if err := produce(ctx, topic, 3, "second", 3); err != nil {
		return res, err
	}
	resumed, err := member(3)
	res["resumed"] = resumed
	if err != nil {
		return res, err
	}
	after, err := fetchOffsets(ctx, admCl, group, topic, 3)
	res["committed_after"] = after
	return res, err
}

func produce(ctx context.Context, topic string, partitions int, prefix string, n int) error {
	cl, err := newClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % partitions), Value: []byte(fmt.Sprintf("%s-%d", prefix, i))})
	}
	return cl.ProduceSync(ctx, recs...).FirstErr()
}

// fetchOffsets asks OffsetFetch for the topic's partitions by name (kadm's
// FetchOffsets asks for all topics, which needs OffsetFetch v2+).
func fetchOffsets(ctx context.Context, cl *kgo.Client, group, topic string, partitions int32) (map[string]int64, error) {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	t := kmsg.NewOffsetFetchRequestTopic()
	t.Topic = topic
	for p := int32(0); p < partitions; p++ {
		t.Partitions = append(t.Partitions, p)
	}
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				return nil, fmt.Errorf("%s/%d: %w", rt.Topic, rp.Partition, err)
			}
			out[fmt.Sprintf("%s/%d", rt.Topic[len(*prefix)+1:], rp.Partition)] = rp.Offset
		}
	}
	return out, nil
}

// adminTopics: kadm topics and configs: create with configs, list, describe topic and
// broker configs, incremental and legacy alter, add partitions, delete records, delete.
func adminTopics(ctx context.Context) (any, error) {
	topic := *prefix + "-admin"
	cl, err := newClient()
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	res := map[string]any{}
	retention := "86400000"
	if err := createTopic(ctx, adm, topic, 2, map[string]*string{"retention.ms": &retention}); err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	err = createTopic(ctx, adm, topic, 2, nil)
	res["create_again"] = errName(err)
	details, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return res, err
	}
	d := details[topic]
	res["listed_partitions"] = len(d.Partitions)
	res["listed_replicas"] = len(d.Partitions[0].Replicas)
	res["topic_id_set"] = d.ID != kadm.TopicID{}
	all, err := adm.ListTopics(ctx)
	if err != nil {
		return res, err
	}
	_, res["in_full_list"] = all[topic]

	describe := func() (map[string]any, error) {
		rcs, err := adm.DescribeTopicConfigs(ctx, topic)
		if err != nil {
			return nil, err
		}
		rc, err := rcs.On(topic, nil)
		if err != nil {
			return nil, err
		}
		if rc.Err != nil {
			return nil, rc.Err
		}
		out := map[string]any{}
		for _, c := range rc.Configs {
			switch c.Key {
			case "retention.ms", "cleanup.policy", "max.message.bytes", "segment.bytes":
				out[c.Key] = map[string]string{"value": derefS(c.Value), "source": c.Source.String()}
			}
		}
		return out, nil
	}
	if res["configs_created"], err = describe(); err != nil {
		return res, fmt.Errorf("describe configs: %w", err)
	}
	maxBytes := "200000"
	alters, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "max.message.bytes", Value: &maxBytes},
		{Op: kadm.DeleteConfig, Name: "retention.ms"},
		{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: strp("compact")},
	}, topic)
	if err == nil {
		err = firstAlterErr(alters)
	}
	if err != nil {
		return res, fmt.Errorf("incremental alter: %w", err)
	}
	if res["configs_incremental"], err = describe(); err != nil {
		return res, err
	}
	// The legacy AlterConfigs replaces every override of the topic.
	alters, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "segment.bytes", Value: strp("10485760")}}, topic)
	if err == nil {
		err = firstAlterErr(alters)
	}
	if err != nil {
		return res, fmt.Errorf("legacy alter: %w", err)
	}
	if res["configs_replaced"], err = describe(); err != nil {
		return res, err
	}

	// With no broker named, kadm describes the cluster default (resource ""), which
	// lists only dynamic defaults, as Kafka: name the broker for its whole config.
	brokers, err := adm.ListBrokers(ctx)
	if err != nil || len(brokers) == 0 {
		return res, fmt.Errorf("list brokers: %v", err)
	}
	brcs, err := adm.DescribeBrokerConfigs(ctx, brokers[0].NodeID)
	if err != nil {
		return res, fmt.Errorf("describe broker configs: %w", err)
	}
	brokerConfigs := map[string]string{}
	for _, rc := range brcs {
		for _, c := range rc.Configs {
			if c.Key == "num.partitions" || c.Key == "log.retention.hours" || c.Key == "auto.create.topics.enable" {
				brokerConfigs[c.Key] = derefS(c.Value)
			}
		}
	}
	res["broker_configs"] = brokerConfigs

	cps, err := adm.UpdatePartitions(ctx, 4, topic)
	if err != nil {
		return res, err
	}
	if cp := cps[topic]; cp.Err != nil {
		return res, fmt.Errorf("create partitions: %w", cp.Err)
	}
	details, err = adm.ListTopics(ctx, topic)
	if err != nil {
		return res, err
	}
	res["partitions_after"] = len(details[topic].Partitions)

	if err := produce(ctx, topic, 1, "r", 5); err != nil {
		return res, err
	}
	var dro kadm.Offsets
	dro.Add(kadm.Offset{Topic: topic, Partition: 0, At: 3})
	drs, err := adm.DeleteRecords(ctx, dro)
	if err != nil {
		return res, err
	}
	dr := drs[topic][0]
	if dr.Err != nil {
		return res, fmt.Errorf("delete records: %w", dr.Err)
	}
	res["low_watermark"] = dr.LowWatermark
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return res, err
	}
	start, _ := starts.Lookup(topic, 0)
	res["start_after_delete_records"] = start.Offset

	meta, err := adm.BrokerMetadata(ctx)
	if err != nil {
		return res, err
	}
	res["brokers"] = len(meta.Brokers)
	res["controller"] = meta.Controller

	dts, err := adm.DeleteTopics(ctx, topic)
	if err != nil {
		return res, err
	}
	if dt := dts[topic]; dt.Err != nil {
		return res, fmt.Errorf("delete topic: %w", dt.Err)
	}
	for {
		details, err := adm.ListTopics(ctx)
		if err != nil {
			return res, err
		}
		if !details.Has(topic) {
			res["gone"] = true
			return res, nil
		}
		select {
		case <-ctx.Done():
			return res, errors.New("topic still listed after delete")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// adminGroups: kadm on consumer groups: list and describe a live group, its lag,
// commit and fetch offsets, delete offsets and the group.
func adminGroups(ctx context.Context) (any, error) {
	topic, group := *prefix+"-groups", *prefix+"-ag"
	cl, err := newClient()
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if err := createTopic(ctx, adm, topic, 2, nil); err != nil {
		return nil, err
	}
	if err := produce(ctx, topic, 2, "g", 6); err != nil {
		return nil, err
	}
	res := map[string]any{}
	member, err := newClient(kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.ClientID("franz-member"))
	if err != nil {
		return nil, err
	}
	if _, err := poll(ctx, member, 6); err != nil {
		member.Close()
		return res, err
	}
	commit := map[string]map[int32]kgo.EpochOffset{topic: {0: {Epoch: -1, Offset: 2}}}
	var commitErr error
	member.CommitOffsetsSync(ctx, commit, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, _ *kmsg.OffsetCommitResponse, err error) {
		commitErr = err
	})
	if err := commitErr; err != nil {
		member.Close()
		return res, err
	}
	listed, err := adm.ListGroups(ctx)
	if err != nil {
		member.Close()
		return res, err
	}
	lg := listed[group]
	res["listed"] = map[string]string{"protocol_type": lg.ProtocolType, "state": lg.State}
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		member.Close()
		return res, err
	}
	dg := described[group]
	var assigned []int32
	clientIDs := []string{}
	for _, m := range dg.Members {
		clientIDs = append(clientIDs, m.ClientID)
		if ca, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range ca.Topics {
				assigned = append(assigned, t.Partitions...)
			}
		}
	}
	sort.Slice(assigned, func(i, j int) bool { return assigned[i] < assigned[j] })
	res["described"] = map[string]any{"state": dg.State, "protocol_type": dg.ProtocolType, "protocol": dg.Protocol, "client_ids": clientIDs, "assigned": assigned}
	lags, err := adm.Lag(ctx, group)
	if err != nil {
		member.Close()
		return res, err
	}
	lag := lags[group]
	if lag.Error() != nil {
		member.Close()
		return res, lag.Error()
	}
	res["total_lag"] = lag.Lag.Total()
	member.Close()

	// Offsets of an empty group, set by the admin.
	var set kadm.Offsets
	set.Add(kadm.Offset{Topic: topic, Partition: 0, At: 1, LeaderEpoch: -1, Metadata: "admin"})
	set.Add(kadm.Offset{Topic: topic, Partition: 1, At: 3, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, group, set); err != nil {
		return res, fmt.Errorf("admin commit: %w", err)
	}
	fetched, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return res, err
	}
	offsets := map[string]any{}
	fetched.Each(func(o kadm.OffsetResponse) {
		offsets[strconv.Itoa(int(o.Partition))] = map[string]any{"at": o.At, "metadata": o.Metadata}
	})
	res["admin_committed"] = offsets
	dels, err := adm.DeleteOffsets(ctx, group, kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		return res, err
	}
	if err := dels.Error(); err != nil {
		return res, fmt.Errorf("delete offsets: %w", err)
	}
	fetched, err = adm.FetchOffsets(ctx, group)
	if err != nil {
		return res, err
	}
	var left []int32
	fetched.Each(func(o kadm.OffsetResponse) { left = append(left, o.Partition) })
	res["partitions_after_offset_delete"] = left
	dgs, err := adm.DeleteGroups(ctx, group)
	if err != nil {
		return res, err
	}
	if err := dgs.Error(); err != nil {
		return res, fmt.Errorf("delete group: %w", err)
	}
	described, err = adm.DescribeGroups(ctx, group)
	if err != nil {
		return res, err
	}
	res["state_after_delete"] = described[group].State
	return res, nil
}

// transactions: a transactional producer commits, aborts and commits; kadm describes
// the open transaction, its producer on the partition, then lists it; read_committed
// and read_uncommitted consumers read the partition back.
func transactions(ctx context.Context) (any, error) {
	topic, txnID := *prefix+"-txn", *prefix+"-tx"
	admCl, err := newClient()
	if err != nil {
		return nil, err
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	if err := createTopic(ctx, adm, topic, 1, nil); err != nil {
		return nil, err
	}
	cl, err := newClient(kgo.TransactionalID(txnID), kgo.DefaultProduceTopic(topic))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	res := map[string]any{}
	txn := func(commit kgo.TransactionEndTry, during func() error, values ...string) error {
		if err := cl.BeginTransaction(); err != nil {
			return err
		}
		for _, v := range values {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
				return fmt.Errorf("produce %s: %w", v, err)
			}
		}
		if during != nil {
			if err := during(); err != nil {
				return err
			}
		}
		return cl.EndTransaction(ctx, commit)
	}
	if err := txn(kgo.TryCommit, nil, "c0", "c1", "c2"); err != nil {
		return res, fmt.Errorf("first: %w", err)
	}
	describe := func() error {
		dts, err := adm.DescribeTransactions(ctx, txnID)
		if err != nil {
			return err
		}
		dt := dts[txnID]
		if dt.Err != nil {
			return dt.Err
		}
		var parts []int32
		for _, ps := range dt.Topics {
			for p := range ps {
				parts = append(parts, p)
			}
		}
		res["described_open"] = map[string]any{"state": dt.State, "partitions": parts, "producer_id_set": dt.ProducerID >= 0}
		dps, err := adm.DescribeProducers(ctx, kadm.TopicsSet{topic: {0: {}}})
		if err != nil {
			return err
		}
		var starts []int64
		dps.EachProducer(func(p kadm.DescribedProducer) {
			if p.ProducerID == dt.ProducerID {
				starts = append(starts, p.CurrentTxnStartOffset)
			}
		})
		res["producer_txn_start_offsets"] = starts
		return nil
	}
	if err := txn(kgo.TryAbort, describe, "a0", "a1"); err != nil {
		return res, fmt.Errorf("aborted: %w", err)
	}
	if err := txn(kgo.TryCommit, nil, "c3"); err != nil {
		return res, fmt.Errorf("last: %w", err)
	}
	// EndTxn is answered once PrepareCommit is written; the markers and CompleteCommit
	// follow (as on Kafka): list until the transaction is complete.
	for {
		listed, err := adm.ListTransactions(ctx, nil, nil)
		if err != nil {
			return res, err
		}
		res["listed_state"] = listed[txnID].State
		if listed[txnID].State != "PrepareCommit" {
			break
		}
		select {
		case <-ctx.Done():
			return res, errors.New("transaction still PrepareCommit")
		case <-time.After(50 * time.Millisecond):
		}
	}
	for _, level := range []struct {
		name  string
		level kgo.IsolationLevel
		want  int
	}{{"read_committed", kgo.ReadCommitted(), 4}, {"read_uncommitted", kgo.ReadUncommitted(), 6}} {
		c, err := newClient(kgo.FetchIsolationLevel(level.level),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
		if err != nil {
			return res, err
		}
		recs, err := poll(ctx, c, level.want)
		c.Close()
		if err != nil {
			return res, fmt.Errorf("%s: %w", level.name, err)
		}
		var got []string
		for _, r := range recs {
			got = append(got, fmt.Sprintf("%d:%s", r.Offset, r.Value))
		}
		res[level.name] = got
	}
	return res, nil
}

// manyPartitions: one consumer of 200 partitions (franz-go keeps a fetch session,
// KIP-227) reads a record from each, then only the 20 partitions written next.
func manyPartitions(ctx context.Context) (any, error) {
	topic := *prefix + "-many"
	const partitions = 200
	admCl, err := newClient()
	if err != nil {
		return nil, err
	}
	defer admCl.Close()
	if err := createTopic(ctx, kadm.NewClient(admCl), topic, partitions, nil); err != nil {
		return nil, err
	}
	write := func(round string, ps []int32) error {
		var recs []*kgo.Record
		for _, p := range ps {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(fmt.Sprintf("%s-%d", round, p))})
		}
		return admCl.ProduceSync(ctx, recs...).FirstErr()
	}
	all := make([]int32, partitions)
	for i := range all {
		all[i] = int32(i)
	}
	if err := write("first", all); err != nil {
		return nil, err
	}
	cl, err := newClient(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	first, err := poll(ctx, cl, partitions)
	if err != nil {
		return nil, err
	}
	var some []int32
	for p := int32(0); p < partitions; p += 10 {
		some = append(some, p)
	}
	if err := write("second", some); err != nil {
		return nil, err
	}
	second, err := poll(ctx, cl, len(some))
	if err != nil {
		return nil, err
	}
	distinct := map[int32]bool{}
	for _, r := range first {
		if r.Value == fmt.Sprintf("first-%d", r.Partition) && r.Offset == 0 {
			distinct[r.Partition] = true
		}
	}
	var secondParts []int32
	for _, r := range second {
		if r.Value == fmt.Sprintf("second-%d", r.Partition) && r.Offset == 1 {
			secondParts = append(secondParts, r.Partition)
		}
	}
	sort.Slice(secondParts, func(i, j int) bool { return secondParts[i] < secondParts[j] })
	return map[string]any{"first_partitions": len(distinct), "first_records": len(first), "second": secondParts}, nil
}

func firstAlterErr(rs kadm.AlterConfigsResponses) error {
	for _, r := range rs {
		if r.Err != nil {
			return fmt.Errorf("%s: %w (%s)", r.Name, r.Err, r.ErrMessage)
		}
	}
	return nil
}

func errName(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func derefS(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func strp(s string) *string { return &s }
