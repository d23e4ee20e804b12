// Scenarios that write and read records: plain and compressed batches, transactions,
// a topic with many partitions.

package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

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
