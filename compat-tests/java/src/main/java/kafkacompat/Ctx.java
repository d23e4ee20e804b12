package kafkacompat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/** What a scenario needs: the bootstrap address, unique names, clients closed at the end. */
final class Ctx {
    /** Hang guard for one admin future or one poll loop; a healthy broker answers at once. */
    static final long TIMEOUT_S = 60;

    final String bootstrap;
    private final String prefix;
    private final List<AutoCloseable> opened = new ArrayList<>();
    private Admin admin;

    Ctx(String bootstrap, String prefix) {
        this.bootstrap = bootstrap;
        this.prefix = prefix;
    }

    /** A name unique to this run and scenario. */
    String name(String suffix) {
        return prefix + "-" + suffix;
    }

    Properties props(Object... kv) {
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        for (int i = 0; i < kv.length; i += 2) props.put(kv[i], String.valueOf(kv[i + 1]));
        return props;
    }

    synchronized Admin admin() {
        if (admin == null) admin = track(Admin.create(props()));
        return admin;
    }

    KafkaProducer<String, String> producer(Object... kv) {
        return track(new KafkaProducer<>(props(kv), new StringSerializer(), new StringSerializer()));
    }

    KafkaConsumer<String, String> consumer(Object... kv) {
        return track(new KafkaConsumer<>(props(kv), new StringDeserializer(), new StringDeserializer()));
    }

    synchronized <T extends AutoCloseable> T track(T client) {
        opened.add(client);
        return client;
    }

    synchronized void closeAll() {
        Collections.reverse(opened);
        for (AutoCloseable client : opened) {
            try {
                client.close();
            } catch (Exception e) {
                System.err.println("close: " + e);
            }
        }
        opened.clear();
    }

    static <T> T get(KafkaFuture<T> future) throws Exception {
        return future.get(TIMEOUT_S, TimeUnit.SECONDS);
    }

    /** The simple class name of the error a future failed with, or null if it succeeded. */
    static String error(KafkaFuture<?> future) throws Exception {
        try {
            future.get(TIMEOUT_S, TimeUnit.SECONDS);
            return null;
        } catch (ExecutionException e) {
            return e.getCause().getClass().getSimpleName();
        }
    }

    void createTopic(String topic, int partitions, Map<String, String> configs) throws Exception {
        NewTopic newTopic = new NewTopic(topic, partitions, (short) 1).configs(configs);
        get(admin().createTopics(List.of(newTopic)).all());
    }

    void createTopic(String topic, int partitions) throws Exception {
        createTopic(topic, partitions, Map.of());
    }

    /** Polls until {@code count} records arrived (or the hang guard fires). */
    static List<ConsumerRecord<String, String>> poll(KafkaConsumer<String, String> consumer, int count) {
        List<ConsumerRecord<String, String>> records = new ArrayList<>();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
        while (records.size() < count && System.nanoTime() < deadline) {
            consumer.poll(Duration.ofMillis(200)).forEach(records::add);
        }
        return records;
    }

    /**
     * Polls until {@code count} records arrived and the position reached the end offset of
     * every assigned partition (its last stable offset under read_committed): then nothing
     * more is there to read.
     */
    static List<ConsumerRecord<String, String>> drain(KafkaConsumer<String, String> consumer, int count) {
        List<ConsumerRecord<String, String>> records = poll(consumer, count);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
        while (System.nanoTime() < deadline) {
            Map<TopicPartition, Long> ends = consumer.endOffsets(consumer.assignment());
            boolean atEnd = true;
            for (Map.Entry<TopicPartition, Long> e : ends.entrySet()) {
                if (consumer.position(e.getKey()) < e.getValue()) atEnd = false;
            }
            if (atEnd) break;
            consumer.poll(Duration.ofMillis(100)).forEach(records::add);
        }
        return records;
    }

    static List<String> values(List<ConsumerRecord<String, String>> records) {
        List<String> values = new ArrayList<>();
        for (ConsumerRecord<String, String> r : records) values.add(r.value());
        return values;
    }
}
