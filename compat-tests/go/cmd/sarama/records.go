// Scenarios that write and read records: produce_consume (each codec), transactions,
// read_foreign (records another client wrote).

package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/IBM/sarama"

	"kafkacompat/gocompat/internal/report"
)

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
