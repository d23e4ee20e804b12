package kafkacompat.streams;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Predicate;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.processor.StateRestoreListener;

/** One scenario's Streams application: its names, clients and helpers; closed at the end. */
final class App implements AutoCloseable {
    /** Hang guard for one wait; a healthy broker answers well within it. */
    static final long TIMEOUT_S = 60;

    final String bootstrap;
    /** The application.id, also the prefix of the scenario's topics. */
    final String id;
    private final Path stateDir;
    private final Admin admin;
    private final List<AutoCloseable> opened = new ArrayList<>();
    /** Records restored from changelogs, per store, by the running instance. */
    final Map<String, AtomicLong> restored = new ConcurrentHashMap<>();

    App(String bootstrap, String id, Path stateDir) {
        this.bootstrap = bootstrap;
        this.id = id;
        this.stateDir = stateDir;
        this.admin = Admin.create(props());
    }

    Properties props(Object... kv) {
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        for (int i = 0; i < kv.length; i += 2) props.put(kv[i], String.valueOf(kv[i + 1]));
        return props;
    }

    Admin admin() {
        return admin;
    }

    String topic(String suffix) {
        return id + "-" + suffix;
    }

    void createTopics(int partitions, String... names) throws Exception {
        List<NewTopic> topics = new ArrayList<>();
        for (String name : names) topics.add(new NewTopic(name, partitions, (short) 1));
        admin.createTopics(topics).all().get(TIMEOUT_S, TimeUnit.SECONDS);
    }

    void produce(String topic, List<String[]> keyValues) throws Exception {
        List<ProducerRecord<String, String>> records = new ArrayList<>();
        for (String[] kv : keyValues) records.add(new ProducerRecord<>(topic, kv[0], kv[1]));
        produce(records);
    }

    void produce(List<ProducerRecord<String, String>> records) throws Exception {
        try (KafkaProducer<String, String> producer =
                new KafkaProducer<>(props("acks", "all"), new StringSerializer(), new StringSerializer())) {
            for (ProducerRecord<String, String> r : records) producer.send(r);
            producer.flush();
        }
    }

    /**
     * Starts the topology under this application.id with the given settings (in state
     * directory {@code run}) and waits until it is RUNNING.
     */
    KafkaStreams start(Topology topology, String run, Object... kv) throws Exception {
        Properties props = props(
                StreamsConfig.APPLICATION_ID_CONFIG, id,
                StreamsConfig.STATE_DIR_CONFIG, stateDir.resolve(run).toString(),
                StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100,
                StreamsConfig.REPARTITION_PURGE_INTERVAL_MS_CONFIG, 100,
                StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0,  // one output per input record
                StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class.getName(),
                StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class.getName(),
                StreamsConfig.consumerPrefix("session.timeout.ms"), 10000);
        for (int i = 0; i < kv.length; i += 2) props.put(kv[i], String.valueOf(kv[i + 1]));
        KafkaStreams streams = new KafkaStreams(topology, props);
        restored.clear();
        streams.setGlobalStateRestoreListener(new StateRestoreListener() {
            @Override
            public void onRestoreStart(TopicPartition tp, String store, long start, long end) {}

            @Override
            public void onBatchRestored(TopicPartition tp, String store, long end, long n) {}

            @Override
            public void onRestoreEnd(TopicPartition tp, String store, long total) {
                restored.computeIfAbsent(store, s -> new AtomicLong()).addAndGet(total);
            }
        });
        CountDownLatch running = new CountDownLatch(1);
        List<Throwable> errors = new ArrayList<>();
        streams.setStateListener((now, before) -> {
            if (now == KafkaStreams.State.RUNNING) running.countDown();
        });
        streams.setUncaughtExceptionHandler(e -> {
            synchronized (errors) {
                errors.add(e);
            }
            running.countDown();
            return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse
                    .SHUTDOWN_CLIENT;
        });
        opened.add(streams);
        streams.start();
        if (!running.await(TIMEOUT_S, TimeUnit.SECONDS)) {
            throw new IllegalStateException("not RUNNING after " + TIMEOUT_S + "s: " + streams.state());
        }
        synchronized (errors) {
            if (!errors.isEmpty()) throw new IllegalStateException("stream thread died", errors.get(0));
        }
        return streams;
    }

    /**
     * Closes the instance, committing what it processed (a clean shutdown); with {@code
     * leaveGroup}, its static member leaves the group too (otherwise it stays until its
     * session expires).
     */
    void stop(KafkaStreams streams, boolean leaveGroup) {
        KafkaStreams.CloseOptions options =
                new KafkaStreams.CloseOptions().timeout(Duration.ofSeconds(TIMEOUT_S)).leaveGroup(leaveGroup);
        if (!streams.close(options)) throw new IllegalStateException("close timed out");
        opened.remove(streams);
    }

    /** The group's committed offsets: partition -> offset. */
    Map<String, Long> committed() throws Exception {
        Map<String, Long> out = new TreeMap<>();
        admin.listConsumerGroupOffsets(id).partitionsToOffsetAndMetadata().get(TIMEOUT_S, TimeUnit.SECONDS)
                .forEach((tp, om) -> out.put(tp.topic().substring(id.length() + 1) + "-" + tp.partition(), om.offset()));
        return out;
    }

    /** The group's members, as DescribeConsumerGroups reports them. */
    int members() throws Exception {
        return admin.describeConsumerGroups(List.of(id)).all().get(TIMEOUT_S, TimeUnit.SECONDS)
                .get(id).members().size();
    }

    /**
     * Runs Kafka's kafka-streams-application-reset (StreamsResetter, from the jars of
     * compat-tests/kafka-tools, whose classpath file is the system property
     * kafkacompat.tools.classpath) for this application.id: its exit status and output.
     */
    Map<String, Object> resetTool(String... args) throws Exception {
        String classpathFile = System.getProperty("kafkacompat.tools.classpath");
        if (classpathFile == null) throw new IllegalStateException("no -Dkafkacompat.tools.classpath");
        Path tools = Path.of(classpathFile).toAbsolutePath().getParent().getParent();
        List<String> cmd = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Dlog4j.configuration=file:" + tools.resolve("log4j.properties"),
                "-cp", java.nio.file.Files.readString(Path.of(classpathFile)).strip(),
                "org.apache.kafka.tools.StreamsResetter",
                "--bootstrap-server", bootstrap, "--application-id", id));
        cmd.addAll(List.of(args));
        Process process = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes());
        if (!process.waitFor(TIMEOUT_S, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new IllegalStateException("StreamsResetter did not exit: " + output);
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("status", process.exitValue());
        out.put("output", output);
        return out;
    }

    /**
     * Reads {@code topic} from the beginning (read_committed) until {@code done} holds for
     * what it read: every value of each key, in order (also returned).
     */
    <V> Map<String, List<V>> readUntil(String topic, Deserializer<V> values, Predicate<Map<String, List<V>>> done)
            throws Exception {
        Map<String, List<V>> all = new TreeMap<>();
        try (KafkaConsumer<String, V> consumer = new KafkaConsumer<>(
                props("isolation.level", "read_committed"), new StringDeserializer(), values)) {
            List<TopicPartition> partitions = new ArrayList<>();
            consumer.partitionsFor(topic).forEach(p -> partitions.add(new TopicPartition(topic, p.partition())));
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
            while (!done.test(all)) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("output of " + topic + " after " + TIMEOUT_S + "s: " + all);
                }
                for (ConsumerRecord<String, V> r : consumer.poll(Duration.ofMillis(200))) {
                    all.computeIfAbsent(r.key(), k -> new ArrayList<>()).add(r.value());
                }
            }
            // Anything written after the expected values (duplicates) within one more poll
            for (ConsumerRecord<String, V> r : consumer.poll(Duration.ofMillis(500))) {
                all.computeIfAbsent(r.key(), k -> new ArrayList<>()).add(r.value());
            }
        }
        return all;
    }

    /** {@link #readUntil} until the latest value of each key is {@code want}'s. */
    <V> Map<String, List<V>> readUntilLatest(String topic, Deserializer<V> values, Map<String, V> want)
            throws Exception {
        return readUntil(topic, values, all -> want.equals(latest(all)));
    }

    static <V> Map<String, V> latest(Map<String, List<V>> all) {
        Map<String, V> out = new TreeMap<>();
        all.forEach((k, vs) -> out.put(k, vs.get(vs.size() - 1)));
        return out;
    }

    /** The topics whose name starts with this application.id, with their partition count. */
    Map<String, Integer> topics() throws Exception {
        Set<String> names = admin.listTopics().names().get(TIMEOUT_S, TimeUnit.SECONDS);
        Map<String, Integer> ours = new TreeMap<>();
        List<String> mine = names.stream().filter(n -> n.startsWith(id + "-")).toList();
        Map<String, TopicDescription> described = admin.describeTopics(mine).allTopicNames().get(TIMEOUT_S, TimeUnit.SECONDS);
        described.forEach((name, d) -> ours.put(name.substring(id.length() + 1), d.partitions().size()));
        return ours;
    }

    /** The topic's configs set on it (not defaults): name -> value. */
    Map<String, String> topicConfigs(String topic) throws Exception {
        ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        Config config = admin.describeConfigs(List.of(resource)).all().get(TIMEOUT_S, TimeUnit.SECONDS).get(resource);
        Map<String, String> set = new TreeMap<>();
        for (ConfigEntry e : config.entries()) {
            if (e.source() == ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG) set.put(e.name(), e.value());
        }
        return set;
    }

    /** Each partition's log start offset (ListOffsets EARLIEST). */
    Map<Integer, Long> logStartOffsets(String topic) throws Exception {
        return offsets(topic, OffsetSpec.earliest());
    }

    Map<Integer, Long> endOffsets(String topic) throws Exception {
        return offsets(topic, OffsetSpec.latest());
    }

    private Map<Integer, Long> offsets(String topic, OffsetSpec spec) throws Exception {
        int partitions = admin.describeTopics(List.of(topic)).allTopicNames().get(TIMEOUT_S, TimeUnit.SECONDS)
                .get(topic).partitions().size();
        Map<TopicPartition, OffsetSpec> request = new LinkedHashMap<>();
        for (int p = 0; p < partitions; p++) request.put(new TopicPartition(topic, p), spec);
        Map<Integer, Long> out = new TreeMap<>();
        admin.listOffsets(request).all().get(TIMEOUT_S, TimeUnit.SECONDS)
                .forEach((tp, info) -> out.put(tp.partition(), info.offset()));
        return out;
    }

    /** Polls {@code check} until {@code ok} holds for its value (or the guard expires: the last value). */
    static <T> T await(java.util.concurrent.Callable<T> check, Predicate<T> ok) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
        T value = check.call();
        while (!ok.test(value) && System.nanoTime() < deadline) {
            Thread.sleep(100);
            value = check.call();
        }
        return value;
    }

    @Override
    public void close() {
        for (AutoCloseable c : opened) {
            try {
                c.close();
            } catch (Exception ignored) {
                // closing at the end of a scenario: its result is already decided
            }
        }
        admin.close(Duration.ofSeconds(5));
    }
}
