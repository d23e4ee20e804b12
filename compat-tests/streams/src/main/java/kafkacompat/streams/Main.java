package kafkacompat.streams;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.common.utils.AppInfoParser;

/**
 * Runs Kafka Streams applications against a broker, side by side in one JVM.
 *
 * <p>Usage: {@code Main BOOTSTRAP STATE_DIR SCENARIO...} (the reset tool's classpath in
 * {@code -Dkafkacompat.tools.classpath=FILE}). Prints one JSON line per scenario:
 * {@code {"scenario": NAME, "client": VERSION, "ok": true, "result": {...}}} or {@code "ok":
 * false, "error": STACKTRACE}; a failing scenario does not stop the others.
 */
public final class Main {
    interface Scenario {
        Object run(App app) throws Exception;
    }

    /** Guard against a hung scenario: reported as failed, the others still reported. */
    private static final long SCENARIO_TIMEOUT_S = 150;

    static final Map<String, Scenario> SCENARIOS = new LinkedHashMap<>();

    static {
        // Before the first logger exists: warnings and errors only, on stderr.
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        SCENARIOS.put("wordcount_at_least_once", app -> WordCount.run(app, "at_least_once"));
        SCENARIOS.put("wordcount_exactly_once_v2", app -> WordCount.run(app, "exactly_once_v2"));
        SCENARIOS.put("windowed_count_and_table_join", WindowedJoin::run);
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: Main BOOTSTRAP STATE_DIR SCENARIO...; scenarios: " + SCENARIOS.keySet());
            System.exit(2);
        }
        // The JSON lines on stdout; anything else that prints there goes to stderr
        PrintStream out = System.out;
        System.setOut(System.err);
        String version = AppInfoParser.getVersion();
        String prefix = "streams-" + version.replace('.', '_') + "-" + UUID.randomUUID().toString().substring(0, 8);
        ExecutorService pool = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r);
            t.setDaemon(true);
            return t;
        });
        Map<String, Future<Object>> futures = new LinkedHashMap<>();
        List<String> names = new ArrayList<>(List.of(args).subList(2, args.length));
        long start = System.nanoTime();
        for (String name : names) {
            Scenario scenario = SCENARIOS.get(name);
            if (scenario == null) continue;
            App app = new App(args[0], prefix + "-" + name.replace('_', '-'), Path.of(args[1], name));
            futures.put(name, pool.submit(() -> {
                try {
                    return scenario.run(app);
                } finally {
                    app.close();
                }
            }));
        }
        ObjectMapper json = new ObjectMapper();
        long deadline = start + TimeUnit.SECONDS.toNanos(SCENARIO_TIMEOUT_S);
        for (String name : names) {
            Map<String, Object> line = new LinkedHashMap<>();
            line.put("scenario", name);
            line.put("client", version);
            Future<Object> future = futures.get(name);
            if (future == null) {
                line.put("ok", false);
                line.put("error", "unknown scenario; known: " + SCENARIOS.keySet());
            } else {
                try {
                    line.put("result", future.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS));
                    line.put("ok", true);
                } catch (TimeoutException e) {
                    future.cancel(true);
                    line.put("ok", false);
                    line.put("error", "timed out after " + SCENARIO_TIMEOUT_S + "s");
                } catch (Exception e) {
                    line.put("ok", false);
                    line.put("error", stackTrace(e.getCause() != null ? e.getCause() : e));
                }
            }
            line.put("seconds_since_start", (System.nanoTime() - start) / 1e9);
            out.println(json.writeValueAsString(line));
            out.flush();
        }
        System.exit(0);
    }

    static String stackTrace(Throwable t) {
        StringWriter out = new StringWriter();
        t.printStackTrace(new PrintWriter(out));
        return out.toString();
    }
}
