// Command kafkago runs segmentio/kafka-go scenarios against a broker and prints one
// JSON line each:
//
//	kafkago -bootstrap HOST:PORT -prefix NAMEPREFIX scenario...
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/snappy"

	"kafkacompat/gocompat/internal/report"
)

var (
	bootstrap = flag.String("bootstrap", "127.0.0.1:9092", "broker host:port")
	prefix    = flag.String("prefix", "kafkago", "topic and group name prefix")
)

func main() {
	flag.Parse()
	scenarios := map[string]func(context.Context) (any, error){
		"conn_admin":     connAdmin,
		"writer_reader":  writerReader,
		"reader_group":   readerGroup,
		"client_configs": clientConfigs,
		"client_admin":   clientAdmin,
		"roundtrip":      roundtrip,
	}
	for _, name := range flag.Args() {
		fn, ok := scenarios[name]
		if !ok {
			fmt.Fprintln(os.Stderr, "unknown scenario", name)
			os.Exit(2)
		}
		report.Run("kafka-go", name, func() (any, error) {
			ctx, cancel := context.WithTimeout(context.Background(), report.Deadline)
			defer cancel()
			return fn(ctx)
		})
	}
}

// createTopics creates topics through the controller's connection, as kafka-go's
// README does.
func createTopics(ctx context.Context, configs ...kafka.TopicConfig) error {
	conn, err := kafka.DialContext(ctx, "tcp", *bootstrap)
	if err != nil {
		return err
	}
	defer conn.Close()
	controller, err := conn.Controller()
	if err != nil {
		return err
	}
	cc, err := kafka.DialContext(ctx, "tcp", net.JoinHostPort(controller.Host, strconv.Itoa(controller.Port)))
	if err != nil {
		return err
	}
	defer cc.Close()
	return cc.CreateTopics(configs...)
}

// connAdmin: Conn-level admin and data: create topics, read partitions, produce and
// read a batch on the leader's connection, first/last offsets, delete topics.
func connAdmin(ctx context.Context) (any, error) {
	topic := *prefix + "-conn"
	res := map[string]any{}
	err := createTopics(ctx, kafka.TopicConfig{
		Topic: topic, NumPartitions: 3, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "retention.ms", ConfigValue: "3600000"}},
	})
	if err != nil {
		return nil, fmt.Errorf("create topics: %w", err)
	}
	err = createTopics(ctx, kafka.TopicConfig{Topic: topic, NumPartitions: 1, ReplicationFactor: 1})
	res["create_again"] = errorString(err)
	conn, err := kafka.DialContext(ctx, "tcp", *bootstrap)
	if err != nil {
		return res, err
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions(topic)
	if err != nil {
		return res, fmt.Errorf("read partitions: %w", err)
	}
	var ids []int
	for _, p := range parts {
		ids = append(ids, p.ID)
	}
	sort.Ints(ids)
	res["partitions"] = ids
	versions, err := conn.ApiVersions()
	if err != nil {
		return res, err
	}
	for _, v := range versions {
		if v.ApiKey == 0 {
			res["produce_max_version"] = v.MaxVersion
		}
	}

	leader, err := kafka.DialLeader(ctx, "tcp", *bootstrap, topic, 1)
	if err != nil {
		return res, err
	}
	defer leader.Close()
	leader.SetWriteDeadline(time.Now().Add(report.Deadline))
	var msgs []kafka.Message
	for i := 0; i < 5; i++ {
		msgs = append(msgs, kafka.Message{Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("c%d", i))})
	}
	if _, err := leader.WriteMessages(msgs...); err != nil {
		return res, fmt.Errorf("conn write: %w", err)
	}
	first, last, err := leader.ReadOffsets()
	if err != nil {
		return res, err
	}
	res["first_last"] = []int64{first, last}
	if _, err := leader.Seek(2, kafka.SeekAbsolute); err != nil {
		return res, err
	}
	leader.SetReadDeadline(time.Now().Add(report.Deadline))
	batch := leader.ReadBatch(1, 1<<20)
	var read []string
	for {
		m, err := batch.ReadMessage()
		if err != nil {
			break
		}
		read = append(read, fmt.Sprintf("%d:%s=%s", m.Offset, m.Key, m.Value))
	}
	if err := batch.Close(); err != nil {
		return res, fmt.Errorf("batch: %w", err)
	}
	res["batch_from_2"] = read

	if err := conn.DeleteTopics(topic); err != nil {
		return res, fmt.Errorf("delete topics: %w", err)
	}
	// Conn.ReadPartitions sends Metadata v1, which auto-creates (as on Kafka): ask
	// with Client.Metadata (AllowAutoTopicCreation false) instead.
	for {
		meta, err := freshMetadata(ctx, topic)
		if err != nil {
			return res, err
		}
		if len(meta.Topics) == 1 && errors.Is(meta.Topics[0].Error, kafka.UnknownTopicOrPartition) {
			res["gone"] = true
			return res, nil
		}
		select {
		case <-ctx.Done():
			return res, errors.New("topic still there after delete")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// newTransport: kafka-go's DefaultTransport caches metadata, and a Writer on it fails
// with UnknownTopicOrPartition for a topic created after the cache was filled
// (segmentio/kafka-go#683): each Writer gets its own.
func newTransport() *kafka.Transport { return &kafka.Transport{} }

// writerReader: a Writer (acks=all, snappy, hash balancer) then a partition Reader
// started at an offset, and a Reader from the first offset of another partition.
func writerReader(ctx context.Context) (any, error) {
	topic := *prefix + "-writer"
	if err := createTopics(ctx, kafka.TopicConfig{Topic: topic, NumPartitions: 2, ReplicationFactor: 1}); err != nil {
		return nil, err
	}
	w := &kafka.Writer{
		Addr: kafka.TCP(*bootstrap), Topic: topic, Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, Compression: kafka.Snappy, BatchTimeout: 10 * time.Millisecond,
		Transport: newTransport(),
	}
	_ = snappy.NewCompressionCodec // the codec registers itself with the package
	var msgs []kafka.Message
	for i := 0; i < 10; i++ {
		msgs = append(msgs, kafka.Message{
			Key: []byte(fmt.Sprintf("key-%d", i%2)), Value: []byte(fmt.Sprintf("w%d", i)),
			Headers: []kafka.Header{{Key: "i", Value: []byte(strconv.Itoa(i))}},
		})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		return nil, fmt.Errorf("write: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	res := map[string]any{}
	byPartition := map[string][]string{}
	for _, p := range []int{0, 1} {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{*bootstrap}, Topic: topic, Partition: p, MaxWait: 200 * time.Millisecond})
		end, err := endOffset(ctx, topic, p)
		if err != nil {
			r.Close()
			return res, err
		}
		for int64(len(byPartition[strconv.Itoa(p)])) < end {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				return res, fmt.Errorf("read %d: %w", p, err)
			}
			h := ""
			if len(m.Headers) == 1 {
				h = string(m.Headers[0].Value)
			}
			byPartition[strconv.Itoa(p)] = append(byPartition[strconv.Itoa(p)], fmt.Sprintf("%d:%s=%s;i=%s", m.Offset, m.Key, m.Value, h))
		}
		r.Close()
	}
	res["by_partition"] = byPartition
	// A reader positioned with SetOffset.
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{*bootstrap}, Topic: topic, Partition: 0, MaxWait: 200 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(3); err != nil {
		return res, err
	}
	m, err := r.ReadMessage(ctx)
	if err != nil {
		return res, err
	}
	res["at_3"] = fmt.Sprintf("%d:%s", m.Offset, m.Value)
	return res, nil
}

func endOffset(ctx context.Context, topic string, p int) (int64, error) {
	conn, err := kafka.DialLeader(ctx, "tcp", *bootstrap, topic, p)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	return conn.ReadLastOffset()
}

// readerGroup: a Reader with a GroupID reads and commits (ReadMessage commits), the
// committed offsets are fetched with Client.OffsetFetch, a new reader resumes.
func readerGroup(ctx context.Context) (any, error) {
	topic, group := *prefix+"-group", *prefix+"-g"
	if err := createTopics(ctx, kafka.TopicConfig{Topic: topic, NumPartitions: 2, ReplicationFactor: 1}); err != nil {
		return nil, err
	}
	write := func(values ...string) error {
		w := &kafka.Writer{Addr: kafka.TCP(*bootstrap), Topic: topic, Balancer: &kafka.RoundRobin{}, BatchTimeout: 10 * time.Millisecond, Transport: newTransport()}
		var msgs []kafka.Message
		for _, v := range values {
			msgs = append(msgs, kafka.Message{Value: []byte(v)})
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			return err
		}
		return w.Close()
	}
	read := func(n int) ([]string, error) {
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: []string{*bootstrap}, GroupID: group, Topic: topic,
			MaxWait: 200 * time.Millisecond, StartOffset: kafka.FirstOffset,
			HeartbeatInterval: 500 * time.Millisecond,
		})
		defer r.Close()
		var out []string
		for len(out) < n {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				return out, err
			}
			out = append(out, string(m.Value))
		}
		sort.Strings(out)
		return out, nil
	}
	res := map[string]any{}
	if err := write("a", "b", "c", "d", "e", "f"); err != nil {
		return nil, err
	}
	first, err := read(6)
	res["first"] = first
	if err != nil {
		return res, err
	}
	client := &kafka.Client{Addr: kafka.TCP(*bootstrap)}
	fetched, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: {0, 1}}})
	if err != nil {
		return res, err
	}
	if fetched.Error != nil {
		return res, fetched.Error
	}
	committed := map[string]int64{}
	for _, p := range fetched.Topics[topic] {
		if p.Error != nil {
			return res, p.Error
		}
		committed[strconv.Itoa(p.Partition)] = p.CommittedOffset
	}
	res["committed"] = committed
	if err := write("g", "h"); err != nil {
		return res, err
	}
	resumed, err := read(2)
	res["resumed"] = resumed
	return res, err
}

// clientConfigs: kafka.Client's DescribeConfigs (topic) and ListOffsets.
func clientConfigs(ctx context.Context) (any, error) {
	topic := *prefix + "-configs"
	err := createTopics(ctx, kafka.TopicConfig{
		Topic: topic, NumPartitions: 1, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}},
	})
	if err != nil {
		return nil, err
	}
	client := &kafka.Client{Addr: kafka.TCP(*bootstrap)}
	resp, err := client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{
		Resources: []kafka.DescribeConfigRequestResource{{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: topic,
			ConfigNames: []string{"cleanup.policy", "retention.ms"},
		}},
	})
	if err != nil {
		return nil, err
	}
	res := map[string]any{}
	r := resp.Resources[0]
	if r.Error != nil {
		return nil, r.Error
	}
	configs := map[string]string{}
	for _, e := range r.ConfigEntries {
		configs[e.ConfigName] = e.ConfigValue
	}
	res["configs"] = configs
	offsets, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{topic: {kafka.FirstOffsetOf(0), kafka.LastOffsetOf(0)}},
	})
	if err != nil {
		return res, err
	}
	po := offsets.Topics[topic][0]
	if po.Error != nil {
		return res, po.Error
	}
	res["first_last"] = []int64{po.FirstOffset, po.LastOffset}
	return res, nil
}

// clientAdmin: kafka.Client's admin requests: CreateTopics, CreatePartitions,
// IncrementalAlterConfigs and AlterConfigs (read back with DescribeConfigs),
// OffsetCommit of a group without members, ListGroups, DescribeGroups, DeleteGroups,
// DeleteTopics.
func clientAdmin(ctx context.Context) (any, error) {
	topic, group := *prefix+"-client", *prefix+"-cg"
	client := &kafka.Client{Addr: kafka.TCP(*bootstrap), Transport: newTransport()}
	res := map[string]any{}
	created, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: topic, NumPartitions: 1, ReplicationFactor: 1},
	}})
	if err != nil {
		return nil, err
	}
	if err := created.Errors[topic]; err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	again, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: topic, NumPartitions: 1, ReplicationFactor: 1},
	}})
	if err != nil {
		return res, err
	}
	res["create_again"] = errorString(again.Errors[topic])
	cps, err := client.CreatePartitions(ctx, &kafka.CreatePartitionsRequest{Topics: []kafka.TopicPartitionsConfig{{Name: topic, Count: 3}}})
	if err != nil {
		return res, err
	}
	if err := cps.Errors[topic]; err != nil {
		return res, fmt.Errorf("create partitions: %w", err)
	}
	meta, err := freshMetadata(ctx, topic)
	if err != nil {
		return res, err
	}
	res["partitions"] = len(meta.Topics[0].Partitions)
	describe := func() (map[string]string, error) {
		resp, err := client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: topic,
			ConfigNames: []string{"cleanup.policy", "retention.ms", "max.message.bytes"},
		}}})
		if err != nil {
			return nil, err
		}
		if err := resp.Resources[0].Error; err != nil {
			return nil, err
		}
		out := map[string]string{}
		for _, e := range resp.Resources[0].ConfigEntries {
			out[e.ConfigName] = e.ConfigValue
		}
		return out, nil
	}
	inc, err := client.IncrementalAlterConfigs(ctx, &kafka.IncrementalAlterConfigsRequest{Resources: []kafka.IncrementalAlterConfigsRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: topic,
		Configs: []kafka.IncrementalAlterConfigsRequestConfig{
			{Name: "retention.ms", Value: "1234", ConfigOperation: kafka.ConfigOperationSet},
			{Name: "cleanup.policy", Value: "compact", ConfigOperation: kafka.ConfigOperationAppend},
		},
	}}})
	if err != nil {
		return res, err
	}
	if err := inc.Resources[0].Error; err != nil {
		return res, fmt.Errorf("incremental alter: %w", err)
	}
	if res["configs_incremental"], err = describe(); err != nil {
		return res, err
	}
	alt, err := client.AlterConfigs(ctx, &kafka.AlterConfigsRequest{Resources: []kafka.AlterConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: topic,
		Configs: []kafka.AlterConfigRequestConfig{{Name: "max.message.bytes", Value: "50000"}},
	}}})
	if err != nil {
		return res, err
	}
	for r, err := range alt.Errors {
		if err != nil {
			return res, fmt.Errorf("alter %v: %w", r, err)
		}
	}
	if res["configs_replaced"], err = describe(); err != nil {
		return res, err
	}

	commit, err := client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{
		GroupID: group, GenerationID: -1,
		Topics: map[string][]kafka.OffsetCommit{topic: {{Partition: 0, Offset: 5, Metadata: "m"}, {Partition: 2, Offset: 1}}},
	})
	if err != nil {
		return res, err
	}
	for _, p := range commit.Topics[topic] {
		if p.Error != nil {
			return res, fmt.Errorf("commit %d: %w", p.Partition, p.Error)
		}
	}
	fetched, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: {0, 1, 2}}})
	if err != nil {
		return res, err
	}
	offsets := map[string]string{}
	for _, p := range fetched.Topics[topic] {
		offsets[strconv.Itoa(p.Partition)] = fmt.Sprintf("%d/%s", p.CommittedOffset, p.Metadata)
	}
	res["fetched"] = offsets
	listed, err := client.ListGroups(ctx, &kafka.ListGroupsRequest{})
	if err != nil {
		return res, err
	}
	for _, g := range listed.Groups {
		if g.GroupID == group {
			res["listed_protocol_type"] = g.ProtocolType
		}
	}
	described, err := client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		return res, err
	}
	res["described_state"] = described.Groups[0].GroupState
	deleted, err := client.DeleteGroups(ctx, &kafka.DeleteGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		return res, err
	}
	if err := deleted.Errors[group]; err != nil {
		return res, fmt.Errorf("delete group: %w", err)
	}
	described, err = client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		return res, err
	}
	res["state_after_delete"] = described.Groups[0].GroupState
	dts, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic}})
	if err != nil {
		return res, err
	}
	if err := dts.Errors[topic]; err != nil {
		return res, fmt.Errorf("delete topic: %w", err)
	}
	meta, err = freshMetadata(ctx, topic)
	if err != nil {
		return res, err
	}
	res["after_delete"] = errorString(meta.Topics[0].Error)
	return res, nil
}

// freshMetadata asks the broker itself: a Transport answers Metadata from its cache.
func freshMetadata(ctx context.Context, topic string) (*kafka.MetadataResponse, error) {
	client := &kafka.Client{Addr: kafka.TCP(*bootstrap), Transport: newTransport()}
	return client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
}

func errorString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
