// The admin_topics scenario: kadm's topic administration (create, configs, partitions,
// records, delete) and broker configs.

package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

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

func firstAlterErr(rs kadm.AlterConfigsResponses) error {
	for _, r := range rs {
		if r.Err != nil {
			return fmt.Errorf("%s: %w (%s)", r.Name, r.Err, r.ErrMessage)
		}
	}
	return nil
}
