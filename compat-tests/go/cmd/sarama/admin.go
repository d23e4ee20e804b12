// The cluster admin scenarios: admin (sarama.ClusterAdmin: topics, configs, partitions,
// records, consumer groups) and log_dirs.

package main

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/IBM/sarama"

	"kafkacompat/gocompat/internal/report"
)

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
