package kafkacompat;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;

/** Producer and consumer scenarios. */
final class ClientScenarios {
    private ClientScenarios() {}

    /** acks=all, idempotent, one topic per codec; read back from the beginning. */
    static Object producerCompression(Ctx ctx) throws Exception {
        Map<String, Object> out = new LinkedHashMap<>();
        for (String codec : List.of("gzip", "snappy", "lz4", "zstd")) {
            String topic = ctx.name(codec);
            ctx.createTopic(topic, 2);
            KafkaProducer<String, String> producer = ctx.producer(
                    "acks", "all", "enable.idempotence", true, "compression.type", codec, "linger.ms", 5);
            List<RecordMetadata> metas = new ArrayList<>();
            List<java.util.concurrent.Future<RecordMetadata>> futures = new ArrayList<>();
            for (int i = 0; i < 50; i++) {
                futures.add(producer.send(new ProducerRecord<>(topic, i % 2, "k" + i, codec + "-" + i)));
            }
            producer.flush();
            for (var f : futures) metas.add(f.get());
            producer.close();

            KafkaConsumer<String, String> consumer = ctx.consumer("auto.offset.reset", "earliest");
            List<TopicPartition> tps = List.of(new TopicPartition(topic, 0), new TopicPartition(topic, 1));
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            Map<Integer, List<String>> byPartition = new HashMap<>();
            for (ConsumerRecord<String, String> r : Ctx.drain(consumer, 50)) {
                byPartition.computeIfAbsent(r.partition(), p -> new ArrayList<>()).add(r.key() + "=" + r.value());
            }
            out.put(codec, Json.obj(
                    "offsets_p0", metas.stream().filter(m -> m.partition() == 0).map(RecordMetadata::offset).toList(),
                    "offsets_p1", metas.stream().filter(m -> m.partition() == 1).map(RecordMetadata::offset).toList(),
                    "received_p0", byPartition.getOrDefault(0, List.of()),
                    "received_p1", byPartition.getOrDefault(1, List.of()),
                    "end_offsets", consumer.endOffsets(tps).values()));
        }
        return out;
    }

    /** assign + seek + offsetsForTimes + beginning/end offsets on records with set timestamps. */
    static Object consumerAssignSeek(Ctx ctx) throws Exception {
        String topic = ctx.name("ts");
        ctx.createTopic(topic, 1);
        TopicPartition tp = new TopicPartition(topic, 0);
        long base = System.currentTimeMillis() - 60_000;
        KafkaProducer<String, String> producer = ctx.producer("acks", "all", "linger.ms", 0);
        for (int i = 0; i < 10; i++) {
            producer.send(new ProducerRecord<>(topic, 0, base + i * 1000L, "k" + i, "v" + i)).get();
        }
        KafkaConsumer<String, String> consumer = ctx.consumer();
        consumer.assign(List.of(tp));
        consumer.seek(tp, 5);
        List<ConsumerRecord<String, String>> fromFive = Ctx.drain(consumer, 5);
        List<Long> timestamps = new ArrayList<>();
        for (var r : fromFive) timestamps.add(r.timestamp() - base);
        long positionAfter = consumer.position(tp);

        Map<TopicPartition, OffsetAndTimestamp> at3500 = consumer.offsetsForTimes(Map.of(tp, base + 3500));
        Map<TopicPartition, OffsetAndTimestamp> atBase = consumer.offsetsForTimes(Map.of(tp, base));
        Map<TopicPartition, OffsetAndTimestamp> future = consumer.offsetsForTimes(Map.of(tp, base + 3_600_000));
        OffsetAndTimestamp hit = at3500.get(tp);
        consumer.seek(tp, hit.offset());
        List<ConsumerRecord<String, String>> fromHit = Ctx.poll(consumer, 1);
        return Json.obj(
                "values_from_5", Ctx.values(fromFive),
                "timestamps_from_5", timestamps,
                "position_after", positionAfter,
                "offset_for_3500", hit.offset(),
                "timestamp_for_3500", hit.timestamp() - base,
                "offset_for_base", atBase.get(tp).offset(),
                "offset_for_future", future.get(tp) == null ? null : future.get(tp).offset(),
                "first_after_seek_to_hit", fromHit.isEmpty() ? null : fromHit.get(0).value(),
                "beginning", consumer.beginningOffsets(List.of(tp)).get(tp),
                "end", consumer.endOffsets(List.of(tp)).get(tp));
    }

    /** subscribe (classic protocol) + commitSync + committed; a second member resumes there. */
    static Object consumerSubscribeCommit(Ctx ctx) throws Exception {
        String topic = ctx.name("sub");
        String group = ctx.name("group");
        ctx.createTopic(topic, 2);
        KafkaProducer<String, String> producer = ctx.producer("acks", "all");
        for (int i = 0; i < 6; i++) producer.send(new ProducerRecord<>(topic, i % 2, "k" + i, "first-" + i));
        producer.flush();

        KafkaConsumer<String, String> consumer = ctx.consumer(
                "group.id", group, "auto.offset.reset", "earliest", "enable.auto.commit", false);
        consumer.subscribe(List.of(topic));
        List<ConsumerRecord<String, String>> first = Ctx.poll(consumer, 6);
        List<String> assignment = new ArrayList<>();
        for (TopicPartition tp : consumer.assignment()) assignment.add(tp.toString());
        assignment.sort(null);
        consumer.commitSync();
        Set<TopicPartition> tps = Set.of(new TopicPartition(topic, 0), new TopicPartition(topic, 1));
        Map<String, Object> committed = new java.util.TreeMap<>();
        for (Map.Entry<TopicPartition, OffsetAndMetadata> e : consumer.committed(tps).entrySet()) {
            committed.put(String.valueOf(e.getKey().partition()), e.getValue() == null ? null : e.getValue().offset());
        }
        String generation = String.valueOf(consumer.groupMetadata().generationId());
        consumer.close();

        for (int i = 0; i < 4; i++) producer.send(new ProducerRecord<>(topic, i % 2, "k" + i, "second-" + i));
        producer.flush();
        KafkaConsumer<String, String> second = ctx.consumer(
                "group.id", group, "auto.offset.reset", "earliest", "enable.auto.commit", false);
        second.subscribe(List.of(topic));
        List<ConsumerRecord<String, String>> resumed = Ctx.poll(second, 4);
        List<String> resumedValues = Ctx.values(resumed);
        resumedValues.sort(null);
        List<String> firstValues = Ctx.values(first);
        firstValues.sort(null);
        return Json.obj(
                "first", firstValues,
                "assignment", assignment,
                "committed", committed,
                "generation", generation,
                "resumed", resumedValues);
    }

    private static List<Integer> partitionsOf(KafkaConsumer<String, String> consumer) {
        List<Integer> out = new ArrayList<>();
        for (TopicPartition tp : consumer.assignment()) out.add(tp.partition());
        out.sort(null);
        return out;
    }

    /**
     * Two members with the cooperative-sticky assignor (incremental rebalance, KIP-429):
     * the second one's join moves half the partitions without the first giving up the rest;
     * records written afterwards are read once, by one member or the other.
     */
    static Object consumerCooperativeRebalance(Ctx ctx) throws Exception {
        String topic = ctx.name("coop");
        String group = ctx.name("coop-group");
        ctx.createTopic(topic, 4);
        Object[] config = {"group.id", group, "auto.offset.reset", "earliest", "enable.auto.commit", false,
                "partition.assignment.strategy",
                "org.apache.kafka.clients.consumer.CooperativeStickyAssignor"};
        KafkaConsumer<String, String> first = ctx.consumer(config);
        first.subscribe(List.of(topic));
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(Ctx.TIMEOUT_S);
        while (first.assignment().size() < 4 && System.nanoTime() < deadline) {
            first.poll(java.time.Duration.ofMillis(100));
        }
        List<Integer> firstAlone = partitionsOf(first);
        KafkaConsumer<String, String> second = ctx.consumer(config);
        second.subscribe(List.of(topic));
        // Cooperative: the first member keeps what it is not asked to give up, and the
        // revoked half goes to the second member in a follow-up rebalance.
        while ((first.assignment().size() != 2 || second.assignment().size() != 2)
                && System.nanoTime() < deadline) {
            first.poll(java.time.Duration.ofMillis(100));
            second.poll(java.time.Duration.ofMillis(100));
        }
        List<Integer> firstShared = partitionsOf(first);
        List<Integer> secondShared = partitionsOf(second);

        KafkaProducer<String, String> producer = ctx.producer("acks", "all");
        for (int i = 0; i < 20; i++) producer.send(new ProducerRecord<>(topic, i % 4, "k", "v" + i));
        producer.flush();
        List<String> seenFirst = new ArrayList<>();
        List<String> seenSecond = new ArrayList<>();
        while (seenFirst.size() + seenSecond.size() < 20 && System.nanoTime() < deadline) {
            first.poll(java.time.Duration.ofMillis(100)).forEach(r -> seenFirst.add(r.partition() + ":" + r.value()));
            second.poll(java.time.Duration.ofMillis(100)).forEach(r -> seenSecond.add(r.partition() + ":" + r.value()));
        }
        return Json.obj(
                "first_alone", firstAlone,
                "first_shared", firstShared,
                "second_shared", secondShared,
                "generation", first.groupMetadata().generationId(),
                "seen_first", seenFirst,
                "seen_second", seenSecond);
    }

    /** subscribe with group.protocol=consumer (KIP-848: ConsumerGroupHeartbeat), commitSync. */
    static Object consumerProtocolConsumer(Ctx ctx) throws Exception {
        String topic = ctx.name("kip848");
        String group = ctx.name("kip848-group");
        ctx.createTopic(topic, 2);
        KafkaProducer<String, String> producer = ctx.producer("acks", "all");
        for (int i = 0; i < 6; i++) producer.send(new ProducerRecord<>(topic, i % 2, "k" + i, "v" + i));
        producer.flush();
        KafkaConsumer<String, String> consumer = ctx.consumer("group.id", group, "group.protocol", "consumer",
                "auto.offset.reset", "earliest", "enable.auto.commit", false);
        consumer.subscribe(List.of(topic));
        List<String> values = Ctx.values(Ctx.poll(consumer, 6));
        values.sort(null);
        consumer.commitSync();
        return Json.obj("values", values, "assignment", partitionsOf(consumer),
                "member_epoch", consumer.groupMetadata().generationId());
    }
}
