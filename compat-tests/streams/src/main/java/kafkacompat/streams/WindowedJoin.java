package kafkacompat.streams;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.LongDeserializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.TimeWindows;

/**
 * A tumbling-window count of clicks per user (event timestamps set by the producer) and a
 * KTable-KTable join of two co-partitioned tables, in one exactly_once_v2 application.
 */
final class WindowedJoin {
    private WindowedJoin() {}

    /** Event time of the first window (a multiple of the window size). */
    static final long BASE = 1_700_000_000_000L;
    static final Duration WINDOW = Duration.ofSeconds(10);

    static Object run(App app) throws Exception {
        String clicks = app.topic("clicks");
        String users = app.topic("users");
        String regions = app.topic("regions");
        String windowed = app.topic("clicks-per-window");
        String joined = app.topic("user-regions");
        app.createTopics(2, clicks, users, regions, windowed, joined);

        StreamsBuilder builder = new StreamsBuilder();
        builder.stream(clicks, Consumed.with(Serdes.String(), Serdes.String()))
                .groupByKey(Grouped.with(Serdes.String(), Serdes.String()))
                .windowedBy(TimeWindows.ofSizeAndGrace(WINDOW, Duration.ofMinutes(1)))
                .count(Materialized.as("clicks-windowed"))
                .toStream()
                .map((w, n) -> KeyValue.pair(w.key() + "@" + (w.window().start() - BASE), n))
                .to(windowed, Produced.with(Serdes.String(), Serdes.Long()));
        KTable<String, String> names = builder.table(users, Consumed.with(Serdes.String(), Serdes.String()),
                Materialized.as("users-table"));
        KTable<String, String> where = builder.table(regions, Consumed.with(Serdes.String(), Serdes.String()),
                Materialized.as("regions-table"));
        names.join(where, (name, region) -> name + "@" + region, Materialized.as("user-regions-joined"))
                .toStream()
                .to(joined);
        KafkaStreams streams = app.start(builder.build(), "only",
                StreamsConfig.PROCESSING_GUARANTEE_CONFIG, "exactly_once_v2");

        List<ProducerRecord<String, String>> records = new ArrayList<>();
        long[][] events = {{1, 0}, {2, 0}, {3, 1}, {12, 0}, {15, 1}, {19, 1}};  // second, user
        for (long[] e : events) {
            String user = e[1] == 0 ? "alice" : "bob";
            records.add(new ProducerRecord<>(clicks, null, BASE + e[0] * 1000, user, "page-" + e[0]));
        }
        records.add(new ProducerRecord<>(users, "alice", "Alice"));
        records.add(new ProducerRecord<>(users, "bob", "Bob"));
        records.add(new ProducerRecord<>(users, "carol", "Carol"));  // no region: no join result
        records.add(new ProducerRecord<>(regions, "alice", "eu"));
        records.add(new ProducerRecord<>(regions, "bob", "us"));
        records.add(new ProducerRecord<>(regions, "bob", "apac"));  // an update of the right side
        app.produce(records);

        Map<String, Object> result = new LinkedHashMap<>();
        Map<String, Long> want = Map.of("alice@0", 2L, "alice@10000", 1L, "bob@0", 1L, "bob@10000", 2L);
        result.put("windowed", app.readUntilLatest(windowed, new LongDeserializer(), want));
        Map<String, String> joins = Map.of("alice", "Alice@eu", "bob", "Bob@apac");
        result.put("joined", app.readUntilLatest(joined, new StringDeserializer(), joins));
        result.put("topics", app.topics());
        result.put("windowed_changelog_configs", app.topicConfigs(app.topic("clicks-windowed-changelog")));
        app.stop(streams, true);
        return result;
    }
}
