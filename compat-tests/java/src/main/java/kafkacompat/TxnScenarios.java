package kafkacompat;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;

/** Transactional producer, read_committed consumer, and the transaction admin APIs. */
final class TxnScenarios {
    private TxnScenarios() {}

    private static List<String> readAll(Ctx ctx, String topic, String isolation, int expected) {
        KafkaConsumer<String, String> consumer = ctx.consumer("isolation.level", isolation);
        List<TopicPartition> tps = List.of(new TopicPartition(topic, 0));
        consumer.assign(tps);
        consumer.seekToBeginning(tps);
        List<String> values = Ctx.values(Ctx.drain(consumer, expected));
        consumer.close();
        return values;
    }

    /** commit, abort, commit with sendOffsetsToTransaction; read_committed vs read_uncommitted. */
    static Object transactions(Ctx ctx) throws Exception {
        String topic = ctx.name("txn");
        String group = ctx.name("txn-group");
        ctx.createTopic(topic, 1);
        TopicPartition tp = new TopicPartition(topic, 0);
        KafkaProducer<String, String> producer = ctx.producer("transactional.id", ctx.name("txn-id"));
        producer.initTransactions();
        producer.beginTransaction();
        producer.send(new ProducerRecord<>(topic, 0, "k", "committed-1"));
        producer.send(new ProducerRecord<>(topic, 0, "k", "committed-2"));
        producer.commitTransaction();
        producer.beginTransaction();
        producer.send(new ProducerRecord<>(topic, 0, "k", "aborted-1"));
        producer.flush();
        producer.abortTransaction();
        producer.beginTransaction();
        producer.send(new ProducerRecord<>(topic, 0, "k", "committed-3"));
        producer.sendOffsetsToTransaction(
                Map.of(tp, new OffsetAndMetadata(2, "from-txn")), new ConsumerGroupMetadata(group));
        producer.commitTransaction();

        OffsetAndMetadata committed =
                Ctx.get(ctx.admin().listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata()).get(tp);
        return Json.obj(
                "read_committed", readAll(ctx, topic, "read_committed", 3),
                "read_uncommitted", readAll(ctx, topic, "read_uncommitted", 4),
                "group_offset", committed == null ? null : committed.offset(),
                "group_offset_metadata", committed == null ? null : committed.metadata());
    }

    /** KIP-447: a subscribed consumer's groupMetadata() (generation, member) goes with the offsets. */
    static Object consumeTransformProduce(Ctx ctx) throws Exception {
        String input = ctx.name("in");
        String output = ctx.name("out");
        String group = ctx.name("ctp-group");
        ctx.createTopic(input, 1);
        ctx.createTopic(output, 1);
        KafkaProducer<String, String> plain = ctx.producer("acks", "all");
        for (int i = 0; i < 5; i++) plain.send(new ProducerRecord<>(input, 0, "k" + i, "in-" + i));
        plain.flush();

        KafkaConsumer<String, String> consumer = ctx.consumer("group.id", group, "auto.offset.reset", "earliest",
                "enable.auto.commit", false, "isolation.level", "read_committed");
        consumer.subscribe(List.of(input));
        List<ConsumerRecord<String, String>> records = Ctx.poll(consumer, 5);
        KafkaProducer<String, String> producer = ctx.producer("transactional.id", ctx.name("ctp-id"));
        producer.initTransactions();
        producer.beginTransaction();
        long next = 0;
        for (ConsumerRecord<String, String> r : records) {
            producer.send(new ProducerRecord<>(output, 0, r.key(), r.value().replace("in-", "out-")));
            next = r.offset() + 1;
        }
        producer.sendOffsetsToTransaction(
                Map.of(new TopicPartition(input, 0), new OffsetAndMetadata(next)), consumer.groupMetadata());
        producer.commitTransaction();
        OffsetAndMetadata committed = consumer.committed(java.util.Set.of(new TopicPartition(input, 0)))
                .get(new TopicPartition(input, 0));
        return Json.obj(
                "generation", consumer.groupMetadata().generationId(),
                "output", readAll(ctx, output, "read_committed", 5),
                "committed", committed == null ? null : committed.offset());
    }

    /** listTransactions / describeTransactions / describeProducers on an open, then committed, transaction. */
    static Object adminTransactions(Ctx ctx) throws Exception {
        String topic = ctx.name("adm-txn");
        String txnId = ctx.name("adm-txn-id");
        ctx.createTopic(topic, 1);
        TopicPartition tp = new TopicPartition(topic, 0);
        KafkaProducer<String, String> producer = ctx.producer("transactional.id", txnId);
        producer.initTransactions();
        producer.beginTransaction();
        producer.send(new ProducerRecord<>(topic, 0, "k", "v0")).get();
        producer.send(new ProducerRecord<>(topic, 0, "k", "v1")).get();

        List<Object> listed = new ArrayList<>();
        for (TransactionListing l : Ctx.get(ctx.admin().listTransactions().all())) {
            if (l.transactionalId().equals(txnId)) {
                listed.add(Json.obj("producer_id", l.producerId(), "state", l.state().toString()));
            }
        }
        TransactionDescription open = Ctx.get(ctx.admin().describeTransactions(List.of(txnId)).description(txnId));
        List<Object> producers = new ArrayList<>();
        for (ProducerState p : Ctx.get(ctx.admin().describeProducers(List.of(tp)).partitionResult(tp))
                .activeProducers()) {
            producers.add(Json.obj(
                    "producer_id", p.producerId(),
                    "producer_epoch", p.producerEpoch(),
                    "last_sequence", p.lastSequence(),
                    "current_txn_start_offset", p.currentTransactionStartOffset()));
        }
        producer.commitTransaction();
        // As in Kafka, EndTxn is answered once PrepareCommit is logged; the markers follow, so the
        // coordinator may still be in PrepareCommit here. Wait (bounded) for CompleteCommit.
        List<String> seen = new ArrayList<>();
        TransactionDescription done;
        long deadline = System.currentTimeMillis() + 15_000;
        while (true) {
            done = Ctx.get(ctx.admin().describeTransactions(List.of(txnId)).description(txnId));
            seen.add(done.state().toString());
            if (!done.state().toString().equals("PrepareCommit") || System.currentTimeMillis() > deadline) break;
            Thread.sleep(20);
        }
        List<String> openPartitions = new ArrayList<>();
        for (TopicPartition p : open.topicPartitions()) openPartitions.add(p.toString());
        Map<String, Object> unknown = new TreeMap<>();
        unknown.put("error", Ctx.error(ctx.admin().describeTransactions(List.of(ctx.name("nope"))).all()));
        return Json.obj(
                "listed", listed,
                "open", Json.obj(
                        "state", open.state().toString(),
                        "producer_id", open.producerId(),
                        "producer_epoch", open.producerEpoch(),
                        "timeout_ms", open.transactionTimeoutMs(),
                        "partitions", openPartitions,
                        "coordinator", open.coordinatorId()),
                "producers", producers,
                "after_commit", Json.obj("state", done.state().toString(), "partitions", done.topicPartitions().size()),
                "states_after_commit", new ArrayList<>(new LinkedHashSet<>(seen)),
                "unknown_id", unknown);
    }
}
