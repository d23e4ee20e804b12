package kafkacompat.streams;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.kafka.common.serialization.LongDeserializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;

/**
 * Word count: lines -> words, re-keyed by word (a repartition topic) and counted in a
 * RocksDB store (its changelog topic); run, closed, and run again with a new state
 * directory, which restores the counts from the changelog.
 */
final class WordCount {
    private WordCount() {}

    static final List<String> FIRST = List.of("the quick brown fox", "the lazy dog", "the fox");
    static final List<String> SECOND = List.of("the dog", "a quick fox");

    static Topology topology(String input, String output) {
        StreamsBuilder builder = new StreamsBuilder();
        builder.stream(input, Consumed.with(Serdes.String(), Serdes.String()))
                .flatMapValues(line -> Arrays.asList(line.split(" ")))
                .groupBy((key, word) -> word, Grouped.with("words", Serdes.String(), Serdes.String()))
                .count(Materialized.as("counts"))
                .toStream()
                .to(output, Produced.with(Serdes.String(), Serdes.Long()));
        return builder.build();
    }

    static Map<String, Long> expected(List<String> lines) {
        Map<String, Long> counts = new TreeMap<>();
        for (String line : lines) for (String w : line.split(" ")) counts.merge(w, 1L, Long::sum);
        return counts;
    }

    static List<String[]> keyed(List<String> lines, int from) {
        List<String[]> out = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) out.add(new String[] {"line-" + (from + i), lines.get(i)});
        return out;
    }

    static Object run(App app, String guarantee) throws Exception {
        String input = app.topic("lines");
        String output = app.topic("counts-out");
        String repartition = app.topic("words-repartition");
        String changelog = app.topic("counts-changelog");
        app.createTopics(2, input, output);
        Topology topology = topology(input, output);
        // Static membership: the restarted instance takes the closed one's place in the group
        // at once (a Streams consumer does not leave the group on close)
        Object[] settings = {
            StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee,
            StreamsConfig.mainConsumerPrefix("group.instance.id"), app.id + "-instance"
        };
        Map<String, Object> result = new LinkedHashMap<>();

        KafkaStreams first = app.start(topology, "first", settings);
        app.produce(input, keyed(FIRST, 0));
        Map<String, Long> want = expected(FIRST);
        result.put("first_values", app.readUntilLatest(output, new LongDeserializer(), want));
        result.put("topics", app.topics());
        result.put("repartition_configs", app.topicConfigs(repartition));
        result.put("changelog_configs", app.topicConfigs(changelog));
        // After a commit Streams deletes the repartition records it consumed (DeleteRecords)
        // (under EOS the end offsets also move with the transaction markers: both read again)
        List<Map<Integer, Long>> purged = App.await(
                () -> List.of(app.logStartOffsets(repartition), app.endOffsets(repartition)),
                startAndEnd -> startAndEnd.get(0).equals(startAndEnd.get(1)));
        result.put("repartition_log_start_offsets", purged.get(0));
        result.put("repartition_end_offsets", purged.get(1));
        app.stop(first, false);

        // The same application.id with an empty state directory: the counts come back from the
        // changelog, and processing resumes from the committed input offsets.
        app.produce(input, keyed(SECOND, FIRST.size()));
        List<String> all = new ArrayList<>(FIRST);
        all.addAll(SECOND);
        KafkaStreams second = app.start(topology, "second", settings);
        Map<String, Long> total = expected(all);
        result.put("values", app.readUntilLatest(output, new LongDeserializer(), total));
        result.put("restored", new TreeMap<>(app.restored));  // done: it processed since
        app.stop(second, true);
        result.put("members_after_close", app.members());

        // kafka-streams-application-reset: input offsets back to the start, internal topics
        // deleted; the application, started again, counts everything again.
        result.put("reset", app.resetTool("--input-topics", input));
        result.put("committed_after_reset", app.committed());
        result.put("topics_after_reset", app.topics());
        KafkaStreams third = app.start(topology, "third", settings);
        long words = total.values().stream().mapToLong(Long::longValue).sum();
        result.put("values_after_reset", app.readUntil(output, new LongDeserializer(), got ->
                got.values().stream().mapToLong(List::size).sum() >= 2 * words && total.equals(App.latest(got))));
        result.put("restored_after_reset", new TreeMap<>(app.restored));
        app.stop(third, true);
        return result;
    }
}
