package kafkacompat;

import java.io.FileReader;
import java.io.Reader;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.AppInfoParser;

/**
 * The Java client over TLS and SASL, in one JVM: {@code SecurityMain CASE.properties...}.
 *
 * <p>Each file holds a client config (bootstrap.servers, security.protocol, sasl.*, ssl.*)
 * and {@code case.topic}; the case (named after the file) produces five records "m0".."m4"
 * (acks=all, idempotent) and consumes them back in a group of its own. The cases run side
 * by side; one JSON line each: {@code {"case", "client", "ok": true, "values": [...]}} or
 * {@code "ok": false, "error": CLASS, "message": ...} (the root cause).
 */
public final class SecurityMain {
    private static final int COUNT = 5;
    private static final long GUARD_S = 60;

    private SecurityMain() {}

    public static void main(String[] args) throws Exception {
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "error");
        String version = AppInfoParser.getVersion();
        ExecutorService pool = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r);
            t.setDaemon(true);
            return t;
        });
        Map<String, Future<List<String>>> futures = new LinkedHashMap<>();
        long start = System.nanoTime();
        for (String file : args) {
            Properties props = new Properties();
            try (Reader reader = new FileReader(file)) {
                props.load(reader);
            }
            String name = Path.of(file).getFileName().toString().replace(".properties", "");
            futures.put(name, pool.submit(() -> roundtrip(props)));
        }
        for (Map.Entry<String, Future<List<String>>> entry : futures.entrySet()) {
            Map<String, Object> line = Json.obj("case", entry.getKey(), "client", version);
            try {
                line.put("values", entry.getValue().get(2 * GUARD_S, TimeUnit.SECONDS));
                line.put("ok", true);
            } catch (ExecutionException e) {
                Throwable root = e.getCause();
                while (root.getCause() != null && root.getCause() != root) root = root.getCause();
                line.put("ok", false);
                line.put("error", root.getClass().getSimpleName());
                line.put("message", String.valueOf(root.getMessage()));
            }
            line.put("seconds_since_start", (System.nanoTime() - start) / 1e9);
            System.out.println(Json.write(line));
            System.out.flush();
        }
        System.exit(0);
    }

    static List<String> roundtrip(Properties base) throws Exception {
        String topic = (String) base.remove("case.topic");
        Properties producerProps = new Properties();
        producerProps.putAll(base);
        producerProps.put("acks", "all");
        producerProps.put("max.block.ms", String.valueOf(GUARD_S * 1000 / 3));
        try (KafkaProducer<String, String> producer =
                new KafkaProducer<>(producerProps, new StringSerializer(), new StringSerializer())) {
            List<Future<?>> sent = new ArrayList<>();
            for (int i = 0; i < COUNT; i++) sent.add(producer.send(new ProducerRecord<>(topic, "m" + i)));
            for (Future<?> f : sent) f.get(GUARD_S, TimeUnit.SECONDS);
        }
        Properties consumerProps = new Properties();
        consumerProps.putAll(base);
        consumerProps.put("group.id", "g-" + topic);
        consumerProps.put("auto.offset.reset", "earliest");
        List<String> values = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer =
                new KafkaConsumer<>(consumerProps, new StringDeserializer(), new StringDeserializer())) {
            consumer.subscribe(List.of(topic));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(GUARD_S);
            while (values.size() < COUNT && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) values.add(r.value());
            }
        }
        return values;
    }
}
