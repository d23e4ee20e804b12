// Command sarama runs Sarama scenarios against a broker and prints one JSON line each.
//
//	sarama -bootstrap HOST:PORT -version 2.1.0 -prefix TOPICPREFIX scenario...
//
// The test creates the topics PREFIX-produce, PREFIX-group, PREFIX-rebalance (2
// partitions each), PREFIX-offsets and PREFIX-txn (1) first. The same source builds
// against the newest github.com/IBM/sarama and, through `go build -overlay` with the
// import path rewritten, against github.com/Shopify/sarama v1.38.1 (which does not
// negotiate API versions: it sends what Version implies).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"kafkacompat/gocompat/internal/report"
)

var (
	bootstrap = flag.String("bootstrap", "127.0.0.1:9092", "broker host:port")
	versionS  = flag.String("version", "2.1.0", "sarama Config.Version")
	prefix    = flag.String("prefix", "sarama", "topic and group name prefix")
	clientTag = flag.String("client", "sarama", "client name in the JSON lines")
	foreign   = flag.String("foreign", "", "read_foreign: a topic another client wrote (partition 0)")
	foreignN  = flag.Int("foreign-count", 0, "read_foreign: how many records to read")
	version   sarama.KafkaVersion
)

func main() {
	flag.Parse()
	v, err := sarama.ParseKafkaVersion(*versionS)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	version = v
	scenarios := map[string]func() (any, error){
		"produce_consume": produceConsume,
		"consumer_group":  consumerGroup,
		"offset_manager":  offsetManager,
		"admin":           admin,
		"transactions":    transactions,
		"read_foreign":    readForeign,
		"group_rebalance": groupRebalance,
		"log_dirs":        logDirs,
		"static_member":   staticMember,
		"roundtrip":       roundtrip,
	}
	for _, name := range flag.Args() {
		fn, ok := scenarios[name]
		if !ok {
			fmt.Fprintln(os.Stderr, "unknown scenario", name)
			os.Exit(2)
		}
		report.Run(*clientTag+"@"+*versionS, name, fn)
	}
}

func config() *sarama.Config {
	c := sarama.NewConfig()
	c.Version = version
	c.ClientID = "kafka-compat-sarama"
	c.Producer.Return.Successes = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Return.Errors = true
	c.Metadata.Retry.Backoff = 100 * time.Millisecond
	secure(c)
	return c
}

func newClient() (sarama.Client, error) {
	return sarama.NewClient([]string{*bootstrap}, config())
}

type produced struct {
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`
}

type consumed struct {
	Offset    int64             `json:"offset"`
	Key       string            `json:"key"`
	Value     string            `json:"value"`
	Timestamp int64             `json:"timestamp"` // ms; 0 where the format has none
	Headers   map[string]string `json:"headers,omitempty"`
}

var baseTime = time.UnixMilli(1_700_000_000_000)

// produceConsume: a SyncProducer writes keyed records (timestamps from 0.10, headers
// from 0.11), then a compressed batch per codec; partition consumers read them back.
func produceConsume() (any, error) {
	topic := *prefix + "-produce"
	client, err := newClient()
	if err != nil {
		return nil, err
	}
	defer client.Close()
	producer, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		return nil, err
	}
	var sent []produced
	for i := 0; i < 10; i++ {
		msg := &sarama.ProducerMessage{
			Topic:     topic,
			Partition: int32(i % 2),
			Key:       sarama.StringEncoder(fmt.Sprintf("k%d", i)),
			Value:     sarama.StringEncoder(fmt.Sprintf("v%d", i)),
			Timestamp: baseTime.Add(time.Duration(i) * time.Second),
		}
		if version.IsAtLeast(sarama.V0_11_0_0) {
			msg.Headers = []sarama.RecordHeader{{Key: []byte("h"), Value: []byte(strconv.Itoa(i))}}
		}
		p, o, err := producer.SendMessage(msg)
		if err != nil {
			return nil, fmt.Errorf("send %d: %w", i, err)
		}
		sent = append(sent, produced{p, o})
	}
	producer.Close()

	// One batch of 3 per codec the Version allows (lz4 needs 0.10, zstd 2.1).
	codecs := []struct {
		name  string
		codec sarama.CompressionCodec
		min   sarama.KafkaVersion
	}{
		{"gzip", sarama.CompressionGZIP, sarama.V0_8_2_0},
		{"snappy", sarama.CompressionSnappy, sarama.V0_8_2_0},
		{"lz4", sarama.CompressionLZ4, sarama.V0_10_0_0},
		{"zstd", sarama.CompressionZSTD, sarama.V2_1_0_0},
	}
	codecOffsets := map[string][]int64{}
	wanted0 := 5
	for n, c := range codecs {
		if !version.IsAtLeast(c.min) {
			continue
		}
		conf := config()
		conf.Producer.Compression = c.codec
		cp, err := sarama.NewSyncProducer([]string{*bootstrap}, conf)
		if err != nil {
			return nil, err
		}
		var batch []*sarama.ProducerMessage
		for i := 0; i < 3; i++ {
			batch = append(batch, &sarama.ProducerMessage{
				Topic: topic, Partition: 0, Value: sarama.StringEncoder(fmt.Sprintf("%s%d", c.name, i)),
				Timestamp: baseTime.Add(time.Duration(20+3*n+i) * time.Second),
			})
		}
		err = cp.SendMessages(batch)
		cp.Close()
		if err != nil {
			return nil, fmt.Errorf("%s batch: %w", c.name, err)
		}
		for _, m := range batch {
			codecOffsets[c.name] = append(codecOffsets[c.name], m.Offset)
		}
		wanted0 += 3
	}

	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil, err
	}
	defer consumer.Close()
	p0, hwm0, err := consumePartition(consumer, topic, 0, sarama.OffsetOldest, wanted0)
	if err != nil {
		return nil, err
	}
	p1, _, err := consumePartition(consumer, topic, 1, 2, 3)
	if err != nil {
		return nil, err
	}
	newest, err := client.GetOffset(topic, 0, sarama.OffsetNewest)
	if err != nil {
		return nil, err
	}
	oldest, err := client.GetOffset(topic, 0, sarama.OffsetOldest)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"sent": sent, "codec_offsets": codecOffsets,
		"partition0": p0, "partition1_from_2": p1, "hwm0": hwm0,
		"newest0": newest, "oldest0": oldest,
	}, nil
}

func consumePartition(c sarama.Consumer, topic string, p int32, from int64, n int) ([]consumed, int64, error) {
	pc, err := c.ConsumePartition(topic, p, from)
	if err != nil {
		return nil, 0, fmt.Errorf("consume %s/%d: %w", topic, p, err)
	}
	defer pc.Close()
	var out []consumed
	deadline := time.After(report.Deadline)
	for len(out) < n {
		select {
		case m := <-pc.Messages():
			out = append(out, toConsumed(m))
		case e := <-pc.Errors():
			return out, 0, e
		case <-deadline:
			return out, 0, fmt.Errorf("%s/%d: %d of %d messages", topic, p, len(out), n)
		}
	}
	return out, pc.HighWaterMarkOffset(), nil
}

func toConsumed(m *sarama.ConsumerMessage) consumed {
	c := consumed{Offset: m.Offset, Key: string(m.Key), Value: string(m.Value)}
	if !m.Timestamp.IsZero() && m.Timestamp.Unix() > 0 {
		c.Timestamp = m.Timestamp.UnixMilli()
	}
	if len(m.Headers) > 0 {
		c.Headers = map[string]string{}
		for _, h := range m.Headers {
			c.Headers[string(h.Key)] = string(h.Value)
		}
	}
	return c
}

// groupHandler collects the values its claims deliver and marks each message.
type groupHandler struct {
	mu       sync.Mutex
	values   []string
	want     int
	done     chan struct{}
	once     sync.Once
	memberID string
	gen      int32
	claims   map[string][]int32
}

func (h *groupHandler) Setup(s sarama.ConsumerGroupSession) error {
	h.mu.Lock()
	h.memberID, h.gen, h.claims = s.MemberID(), s.GenerationID(), s.Claims()
	h.mu.Unlock()
	return nil
}
func (h *groupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *groupHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		s.MarkMessage(m, "")
		h.mu.Lock()
		h.values = append(h.values, string(m.Value))
		if len(h.values) >= h.want {
			s.Commit()
			h.once.Do(func() { close(h.done) })
		}
		h.mu.Unlock()
	}
	return nil
}

// runGroup consumes `want` messages as a member of the group, then leaves it.
func runGroup(group, topic string, want int, during func() error) (*groupHandler, error) {
	cfg := config()
	cfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
	cg, err := sarama.NewConsumerGroup([]string{*bootstrap}, group, cfg)
	if err != nil {
		return nil, err
	}
	h := &groupHandler{want: want, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, h); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	var failed error
	select {
	case <-h.done:
		if during != nil {
			failed = during()
		}
	case err := <-errc:
		failed = fmt.Errorf("consume: %v", err)
	case <-time.After(report.Deadline):
		failed = fmt.Errorf("group got %d of %d messages", len(h.values), want)
	}
	cancel()
	if err := cg.Close(); err != nil && failed == nil {
		failed = err
	}
	return h, failed
}

func produceValues(topic string, values map[int32][]string) error {
	p, err := sarama.NewSyncProducer([]string{*bootstrap}, config())
	if err != nil {
		return err
	}
	defer p.Close()
	for part, vs := range values {
		for _, v := range vs {
			if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: part, Value: sarama.StringEncoder(v)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// consumerGroup: a member reads 10 records of 2 partitions and commits; the admin
// sees the group Stable, then its committed offsets; a new member resumes there.
func consumerGroup() (any, error) {
	topic, group := *prefix+"-group", *prefix+"-g"
	if err := produceValues(topic, map[int32][]string{0: {"a0", "a1", "a2", "a3", "a4"}, 1: {"b0", "b1", "b2", "b3", "b4"}}); err != nil {
		return nil, err
	}
	client, err := newClient()
	if err != nil {
		return nil, err
	}
	defer client.Close()
	adm, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return nil, err
	}
	res := map[string]any{}
	first, err := runGroup(group, topic, 10, func() error {
		groups, err := adm.DescribeConsumerGroups([]string{group})
		if err != nil {
			return fmt.Errorf("describe groups: %w", err)
		}
		g := groups[0]
		res["described"] = map[string]any{"state": g.State, "protocol_type": g.ProtocolType, "protocol": g.Protocol, "members": len(g.Members)}
		listed, err := adm.ListConsumerGroups()
		if err != nil {
			return fmt.Errorf("list groups: %w", err)
		}
		res["listed_type"] = listed[group]
		return nil
	})
	if first != nil {
		res["first"] = sorted(first.values)
		res["claims"] = first.claims[topic]
		res["generation"] = first.gen
		res["member_id_set"] = first.memberID != ""
	}
	if err != nil {
		return res, err
	}
	offsets, err := adm.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0, 1}})
	if err != nil {
		return res, fmt.Errorf("list group offsets: %w", err)
	}
	committed := map[string]int64{}
	for _, p := range []int32{0, 1} {
		b := offsets.GetBlock(topic, p)
		if b == nil {
			return res, fmt.Errorf("no offset block for partition %d", p)
		}
		if b.Err != sarama.ErrNoError {
			return res, fmt.Errorf("offset of partition %d: %w", p, b.Err)
		}
		committed[strconv.Itoa(int(p))] = b.Offset
	}
	res["committed"] = committed
	// nil topics: all of the group's offsets (OffsetFetch v2+ null topics).
	all, err := adm.ListConsumerGroupOffsets(group, nil)
	if err != nil {
		return res, fmt.Errorf("list all group offsets: %w", err)
	}
	allOffsets := map[string]int64{}
	for t, blocks := range all.Blocks {
		for p, b := range blocks {
			allOffsets[fmt.Sprintf("%s/%d", t[len(*prefix)+1:], p)] = b.Offset
		}
	}
	res["committed_all_topics"] = allOffsets
	if err := produceValues(topic, map[int32][]string{0: {"c0", "c1"}, 1: {"d0", "d1"}}); err != nil {
		return res, err
	}
	second, err := runGroup(group, topic, 4, nil)
	if second != nil {
		res["resumed"] = sorted(second.values)
	}
	if err != nil {
		return res, err
	}
	groups, err := adm.DescribeConsumerGroups([]string{group})
	if err != nil {
		return res, err
	}
	res["state_after_close"] = groups[0].State
	return res, nil
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// offsetManager: commits an offset with metadata for a group without members (as
// Sarama's old simple consumers do) and reads it back through a new manager.
func offsetManager() (any, error) {
	topic, group := *prefix+"-offsets", *prefix+"-om"
	client, err := newClient()
	if err != nil {
		return nil, err
	}
	defer client.Close()
	om, err := sarama.NewOffsetManagerFromClient(group, client)
	if err != nil {
		return nil, err
	}
	pom, err := om.ManagePartition(topic, 0)
	if err != nil {
		return nil, err
	}
	initial, initialMeta := pom.NextOffset()
	pom.MarkOffset(7, "meta-7")
	om.Commit()
	select {
	case e := <-pom.Errors():
		return nil, fmt.Errorf("commit: %w", e)
	default:
	}
	pom.Close()
	if err := om.Close(); err != nil {
		return nil, err
	}
	om2, err := sarama.NewOffsetManagerFromClient(group, client)
	if err != nil {
		return nil, err
	}
	defer om2.Close()
	pom2, err := om2.ManagePartition(topic, 0)
	if err != nil {
		return nil, err
	}
	defer pom2.Close()
	next, meta := pom2.NextOffset()
	return map[string]any{
		"initial": initial, "initial_metadata": initialMeta,
		"next": next, "metadata": meta,
	}, nil
}

// admin: create (with configs), describe, describe configs (topic and broker), add
// partitions, delete, and see the topic gone. Steps that Sarama itself refuses at this
// Version (ErrUnsupportedVersion before sending) are skipped and listed.
func admin() (any, error) {
	topic := *prefix + "-admin"
	client, err := newClient()
	if err != nil {
		return nil, err
	}
	defer client.Close()
	adm, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return nil, err
	}
	res := map[string]any{}
	var skipped []string
	can := func(step string, min sarama.KafkaVersion) bool {
		if version.IsAtLeast(min) {
			return true
		}
		skipped = append(skipped, step)
		return false
	}
	defer func() { res["skipped"] = skipped }()
	retention, policy := "123456", "compact"
	err = adm.CreateTopic(topic, &sarama.TopicDetail{
		NumPartitions: 3, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"retention.ms": &retention, "cleanup.policy": &policy},
	}, false)
	if err != nil {
		return res, fmt.Errorf("create topic: %w", err)
	}
	err = adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false)
	res["create_again_error"] = errString(err)
	meta, err := adm.DescribeTopics([]string{topic})
	if err != nil {
		return res, fmt.Errorf("describe topics: %w", err)
	}
	res["partitions"] = len(meta[0].Partitions)
	brokers, controller, err := adm.DescribeCluster()
	if err != nil {
		return res, fmt.Errorf("describe cluster: %w", err)
	}
	res["brokers"] = len(brokers)
	res["controller"] = controller
	if can("describe_configs", sarama.V0_11_0_0) {
		topics, err := adm.ListTopics()
		if err != nil {
			return res, fmt.Errorf("list topics: %w", err)
		}
		d, ok := topics[topic]
		res["listed"] = ok
		res["listed_partitions"] = d.NumPartitions
		res["listed_replication"] = d.ReplicationFactor
		listedConfigs := map[string]string{}
		for k, v := range d.ConfigEntries {
			if v != nil {
				listedConfigs[k] = *v
			}
		}
		res["listed_configs"] = listedConfigs
		entries, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
		if err != nil {
			return res, fmt.Errorf("describe topic configs: %w", err)
		}
		configs := map[string]any{}
		for _, e := range entries {
			switch e.Name {
			case "retention.ms", "cleanup.policy", "segment.bytes", "min.insync.replicas":
				configs[e.Name] = map[string]any{"value": e.Value, "default": e.Default, "read_only": e.ReadOnly, "source": e.Source.String()}
			}
		}
		res["topic_configs"] = configs
		entries, err = adm.DescribeConfig(sarama.ConfigResource{Type: sarama.BrokerResource, Name: strconv.Itoa(int(controller)), ConfigNames: []string{"num.partitions", "log.retention.hours"}})
		if err != nil {
			return res, fmt.Errorf("describe broker configs: %w", err)
		}
		brokerConfigs := map[string]string{}
		for _, e := range entries {
			brokerConfigs[e.Name] = e.Value
		}
		res["broker_configs"] = brokerConfigs
	}
	if can("create_partitions", sarama.V1_0_0_0) {
		if err := adm.CreatePartitions(topic, 4, nil, false); err != nil {
			return res, fmt.Errorf("create partitions: %w", err)
		}
		meta, err := adm.DescribeTopics([]string{topic})
		if err != nil {
			return res, fmt.Errorf("describe topics: %w", err)
		}
		res["partitions_after"] = len(meta[0].Partitions)
	}
	if can("alter_delete_records", sarama.V0_11_0_0) {
		// AlterConfigs replaces every override of the topic.
		retention := "999000"
		if err := adm.AlterConfig(sarama.TopicResource, topic, map[string]*string{"retention.ms": &retention}, false); err != nil {
			return res, fmt.Errorf("alter config: %w", err)
		}
		entries, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic, ConfigNames: []string{"retention.ms", "cleanup.policy"}})
		if err != nil {
			return res, fmt.Errorf("describe configs after alter: %w", err)
		}
		altered := map[string]string{}
		for _, e := range entries {
			altered[e.Name] = e.Value
		}
		res["configs_after_alter"] = altered
		if err := produceValues(topic, map[int32][]string{0: {"d0", "d1", "d2", "d3", "d4"}}); err != nil {
			return res, err
		}
		if err := adm.DeleteRecords(topic, map[int32]int64{0: 3}); err != nil {
			return res, fmt.Errorf("delete records: %w", err)
		}
		oldest, err := client.GetOffset(topic, 0, sarama.OffsetOldest)
		if err != nil {
			return res, err
		}
		res["oldest_after_delete_records"] = oldest
	}
	if can("delete_group", sarama.V1_1_0_0) {
		// The offset manager's group: offsets but no members.
		om := *prefix + "-om"
		if err := adm.DeleteConsumerGroup(om); err != nil {
			return res, fmt.Errorf("delete group: %w", err)
		}
		groups, err := adm.DescribeConsumerGroups([]string{om})
		if err != nil {
			return res, err
		}
		res["deleted_group_state"] = groups[0].State
		offsets, err := adm.ListConsumerGroupOffsets(om, map[string][]int32{*prefix + "-offsets": {0}})
		if err != nil {
			return res, err
		}
		res["deleted_group_offset"] = offsets.GetBlock(*prefix+"-offsets", 0).Offset
	}
	if err := adm.DeleteTopic(topic); err != nil {
		return res, fmt.Errorf("delete topic: %w", err)
	}
	res["deleted"] = true
	// Metadata below v4 auto-creates the topics it names (as on Kafka): the test looks
	// for the deleted topic itself then.
	if !can("gone_check", sarama.V1_0_0_0) {
		return res, nil
	}
	deadline := time.Now().Add(report.Deadline)
	for {
		meta, err := adm.DescribeTopics([]string{topic})
		if err != nil {
			return res, err
		}
		if errors.Is(meta[0].Err, sarama.ErrUnknownTopicOrPartition) {
			res["gone"] = true
			break
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("topic still described after delete (%v)", meta[0].Err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return res, nil
}

// transactions: a transactional SyncProducer commits, aborts and commits again;
// read_committed and read_uncommitted partition consumers read the partition back.
func transactions() (any, error) {
	topic := *prefix + "-txn"
	conf := config()
	conf.Producer.Idempotent = true
	conf.Producer.Transaction.ID = *prefix + "-tx"
	conf.Net.MaxOpenRequests = 1
	producer, err := sarama.NewSyncProducer([]string{*bootstrap}, conf)
	if err != nil {
		return nil, err
	}
	defer producer.Close()
	txn := func(commit bool, values ...string) error {
		if err := producer.BeginTxn(); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		for _, v := range values {
			if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder(v)}); err != nil {
				return fmt.Errorf("send %s: %w", v, err)
			}
		}
		if commit {
			return producer.CommitTxn()
		}
		return producer.AbortTxn()
	}
	if err := txn(true, "c0", "c1", "c2"); err != nil {
		return nil, err
	}
	if err := txn(false, "a0", "a1"); err != nil {
		return nil, err
	}
	if err := txn(true, "c3"); err != nil {
		return nil, err
	}
	res := map[string]any{}
	for _, level := range []struct {
		name  string
		level sarama.IsolationLevel
		want  int
	}{{"read_committed", sarama.ReadCommitted, 4}, {"read_uncommitted", sarama.ReadUncommitted, 6}} {
		cconf := config()
		cconf.Consumer.IsolationLevel = level.level
		consumer, err := sarama.NewConsumer([]string{*bootstrap}, cconf)
		if err != nil {
			return res, err
		}
		msgs, _, err := consumePartition(consumer, topic, 0, sarama.OffsetOldest, level.want)
		consumer.Close()
		if err != nil {
			return res, fmt.Errorf("%s: %w", level.name, err)
		}
		var got []string
		for _, m := range msgs {
			got = append(got, fmt.Sprintf("%d:%s", m.Offset, m.Value))
		}
		res[level.name] = got
	}
	return res, nil
}

// readForeign: a partition consumer reads what another client wrote (record batches
// in every codec, a committed transaction): below Fetch v4 the broker down-converts.
func readForeign() (any, error) {
	client, err := newClient()
	if err != nil {
		return nil, err
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil, err
	}
	defer consumer.Close()
	msgs, hwm, err := consumePartition(consumer, *foreign, 0, sarama.OffsetOldest, *foreignN)
	return map[string]any{"records": msgs, "hwm": hwm}, err
}

type claimEvent struct {
	member string
	gen    int32
	claims []int32
}

// rebalanceHandler reports each session's claims and the values each member got.
type rebalanceHandler struct {
	member   string
	topic    string
	events   chan<- claimEvent
	received chan<- string
}

func (h *rebalanceHandler) Setup(s sarama.ConsumerGroupSession) error {
	claims := append([]int32(nil), s.Claims()[h.topic]...)
	sort.Slice(claims, func(i, j int) bool { return claims[i] < claims[j] })
	h.events <- claimEvent{h.member, s.GenerationID(), claims}
	return nil
}
func (h *rebalanceHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *rebalanceHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		s.MarkMessage(m, "")
		h.received <- fmt.Sprintf("%s:%d:%s", h.member, m.Partition, m.Value)
	}
	return nil
}

// groupRebalance: member A alone owns both partitions; B joins and the group splits
// them; records go to their partition's owner; B leaves and A owns both again.
func groupRebalance() (any, error) {
	topic, group := *prefix+"-rebalance", *prefix+"-rb"
	events := make(chan claimEvent, 16)
	received := make(chan string, 16)
	start := func(member string) (func() error, error) {
		cfg := config()
		cfg.ClientID = "sarama-" + member
		cfg.Consumer.Group.Heartbeat.Interval = 300 * time.Millisecond
		cg, err := sarama.NewConsumerGroup([]string{*bootstrap}, group, cfg)
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithCancel(context.Background())
		h := &rebalanceHandler{member: member, topic: topic, events: events, received: received}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for ctx.Err() == nil {
				if err := cg.Consume(ctx, []string{topic}, h); err != nil {
					return
				}
			}
		}()
		return func() error { cancel(); err := cg.Close(); <-done; return err }, nil
	}
	deadline := time.After(report.Deadline)
	// waitFor returns the latest claims of each member once `ok` holds for them.
	latest := map[string]claimEvent{}
	waitFor := func(what string, ok func() bool) error {
		for !ok() {
			select {
			case e := <-events:
				latest[e.member] = e
			case <-deadline:
				return fmt.Errorf("waiting for %s: %v", what, latest)
			}
		}
		return nil
	}
	res := map[string]any{}
	stopA, err := start("a")
	if err != nil {
		return nil, err
	}
	defer stopA()
	if err := waitFor("a alone", func() bool { return len(latest["a"].claims) == 2 }); err != nil {
		return res, err
	}
	res["a_alone"] = latest["a"].claims
	genAlone := latest["a"].gen
	stopB, err := start("b")
	if err != nil {
		return res, err
	}
	split := func() bool {
		a, b := latest["a"], latest["b"]
		return a.gen > genAlone && a.gen == b.gen && len(a.claims) == 1 && len(b.claims) == 1
	}
	if err := waitFor("the split", split); err != nil {
		stopB()
		return res, err
	}
	res["split"] = map[string][]int32{"a": latest["a"].claims, "b": latest["b"].claims}
	genSplit := latest["a"].gen
	if err := produceValues(topic, map[int32][]string{0: {"r0"}, 1: {"r1"}}); err != nil {
		stopB()
		return res, err
	}
	var got []string
	for len(got) < 2 {
		select {
		case r := <-received:
			got = append(got, r)
		case <-deadline:
			stopB()
			return res, fmt.Errorf("records after the split: %v", got)
		}
	}
	sort.Strings(got)
	res["received"] = got
	if err := stopB(); err != nil {
		return res, fmt.Errorf("close b: %w", err)
	}
	if err := waitFor("a alone again", func() bool { return latest["a"].gen > genSplit && len(latest["a"].claims) == 2 }); err != nil {
		return res, err
	}
	res["a_after_b_left"] = latest["a"].claims
	res["generations_increase"] = genAlone < genSplit && genSplit < latest["a"].gen
	return res, nil
}

// logDirs: DescribeLogDirs (Sarama sends it from Version 2.0; 1.38.1 always as v0)
// shows the partitions of PREFIX-produce in the broker's log dir.
func logDirs() (any, error) {
	topic := *prefix + "-produce"
	client, err := newClient()
	if err != nil {
		return nil, err
	}
	defer client.Close()
	adm, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return nil, err
	}
	_, controller, err := adm.DescribeCluster()
	if err != nil {
		return nil, err
	}
	dirs, err := adm.DescribeLogDirs([]int32{controller})
	if err != nil {
		return nil, fmt.Errorf("describe log dirs: %w", err)
	}
	var found []int32
	for _, dir := range dirs[controller] {
		if dir.ErrorCode != sarama.ErrNoError {
			return nil, fmt.Errorf("log dir %s: %w", dir.Path, dir.ErrorCode)
		}
		for _, t := range dir.Topics {
			if t.Topic == topic {
				for _, p := range t.Partitions {
					found = append(found, p.PartitionID)
				}
			}
		}
	}
	sort.Slice(found, func(i, j int) bool { return found[i] < found[j] })
	return map[string]any{"partitions": found, "dirs": len(dirs[controller])}, nil
}

// staticMember: a static member (group.instance.id, KIP-345) closes without leaving and
// comes back under a new member id: a Stable group hands it its assignment again in
// the same generation, without a rebalance.
func staticMember() (any, error) {
	topic, group := *prefix+"-rebalance", *prefix+"-static"
	session := func() (claimEvent, string, error) {
		cfg := config()
		cfg.Consumer.Group.InstanceId = "static-1"
		cg, err := sarama.NewConsumerGroup([]string{*bootstrap}, group, cfg)
		if err != nil {
			return claimEvent{}, "", err
		}
		defer cg.Close()
		events := make(chan claimEvent, 4)
		memberIDs := make(chan string, 4)
		h := &staticHandler{rebalanceHandler{member: "static", topic: topic, events: events, received: make(chan string, 64)}, memberIDs}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		errc := make(chan error, 1)
		go func() { errc <- cg.Consume(ctx, []string{topic}, h) }()
		select {
		case e := <-events:
			return e, <-memberIDs, nil
		case err := <-errc:
			return claimEvent{}, "", fmt.Errorf("consume: %v", err)
		case <-time.After(report.Deadline):
			return claimEvent{}, "", errors.New("no session")
		}
	}
	first, firstID, err := session()
	if err != nil {
		return nil, err
	}
	second, secondID, err := session()
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"first_claims": first.claims, "second_claims": second.claims,
		"same_generation": first.gen == second.gen, "new_member_id": firstID != secondID,
	}, nil
}

type staticHandler struct {
	rebalanceHandler
	memberIDs chan<- string
}

func (h *staticHandler) Setup(s sarama.ConsumerGroupSession) error {
	h.memberIDs <- s.MemberID()
	return h.rebalanceHandler.Setup(s)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	var te *sarama.TopicError
	if errors.As(err, &te) {
		return te.Err.Error()
	}
	return err.Error()
}
