// Consumer-group scenarios: a group member committing offsets, and kadm's group
// administration (describe, lag, offsets, delete).

package main

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

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
