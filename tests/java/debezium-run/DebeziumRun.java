// Runs Debezium's PostgreSQL connector in its embedded engine, with the Json format (Kafka Connect's
// JsonConverter) for keys and values, headers printed as Kafka Connect's SimpleHeaderConverter
// writes them, as the tests and the benchmark run it beside the relay. With the property
// avro.registry.url (the registry's Apicurio API v2), keys and values go through Apicurio Registry's
// Avro converter instead, as Debezium's users configure it (as-confluent, content ids): it registers
// their schemas there, and each key and value is printed as its bytes in base64.
//   DebeziumRun <connector.properties> [count]
// Without a count it prints each record as a JSON line {"topic": …, "key": <text or null>,
// "value": <text or null>, "headers": {name: text}} until it is stopped (SIGTERM). With a count it prints nothing per record:
// after `count` records it prints {"records": n, "first_ms": …, "last_ms": …} (wall-clock times of
// the first and the last record) and exits.
import java.io.FileReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.apicurio.registry.utils.converter.AvroConverter;
import io.debezium.embedded.Connect;
import io.debezium.engine.ChangeEvent;
import io.debezium.engine.DebeziumEngine;
import io.debezium.engine.Header;
import io.debezium.engine.RecordChangeEvent;
import io.debezium.engine.format.ChangeEventFormat;
import io.debezium.engine.format.Json;
import io.debezium.engine.format.KeyValueHeaderChangeEventFormat;
import org.apache.kafka.connect.source.SourceRecord;
import org.apache.kafka.connect.storage.SimpleHeaderConverter;

public final class DebeziumRun {
  public static void main(String[] args) throws Exception {
    Properties props = new Properties();
    props.setProperty("name", "debezium-run");
    props.setProperty("connector.class", "io.debezium.connector.postgresql.PostgresConnector");
    props.setProperty("offset.storage", "org.apache.kafka.connect.storage.MemoryOffsetBackingStore");
    props.setProperty("offset.flush.interval.ms", "1000");
    props.setProperty("plugin.name", "pgoutput");
    try (FileReader in = new FileReader(args[0], StandardCharsets.UTF_8)) {
      props.load(in);
    }
    final long count = args.length > 1 ? Long.parseLong(args[1]) : -1;
    final PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
    final ObjectMapper mapper = new ObjectMapper();
    final AtomicLong seen = new AtomicLong(), first = new AtomicLong(), last = new AtomicLong();
    final CountDownLatch done = new CountDownLatch(1);
    final String registry = (String) props.remove("avro.registry.url");
    // What each record's consumer does: print it as a line, or count it.
    final java.util.function.Consumer<ObjectNode> take = line -> {
      long n = seen.incrementAndGet();
      if (n == 1) first.set(System.currentTimeMillis());
      if (count < 0) out.println(line.toString());
      if (n == count) {
        last.set(System.currentTimeMillis());
        done.countDown();
      }
    };
    final DebeziumEngine.CompletionCallback stopped = (success, message, error) -> {
      if (!success) {
        System.err.println("debezium stopped: " + message);
        for (Throwable t = error; t != null; t = t.getCause()) System.err.println("  caused by: " + t);
        done.countDown();
      }
    };
    final DebeziumEngine<?> engine;
    if (registry == null) {
      // Headers through JsonConverter without schemas, printed as SimpleHeaderConverter (a Kafka Connect
      // worker's default) writes them: a string's text, any other value as JSON.
      props.setProperty("header.converter.schemas.enable", "false");
      engine = DebeziumEngine.create(KeyValueHeaderChangeEventFormat.of(Json.class, Json.class, Json.class))
          .using(props)
          .notifying((List<ChangeEvent<String, String>> records, DebeziumEngine.RecordCommitter<ChangeEvent<String, String>> committer) -> {
            for (ChangeEvent<String, String> r : records) {
              ObjectNode line = mapper.createObjectNode();
              line.put("topic", r.destination());
              line.put("key", r.key());
              line.put("value", r.value());
              ObjectNode headers = line.putObject("headers");
              for (Header<?> h : r.headers()) {
                Object v = h.getValue();
                JsonNode node;
                try {
                  node = v == null ? null : mapper.readTree(String.valueOf(v));
                } catch (Exception e) {
                  node = mapper.getNodeFactory().textNode(String.valueOf(v));
                }
                headers.put(h.getKey(), node == null || node.isNull() ? null : node.isTextual() ? node.asText() : node.toString());
              }
              take.accept(line);
              committer.markProcessed(r);
            }
            out.flush();
            committer.markBatchFinished();
          })
          .using(stopped)
          .build();
    } else {
      final AvroConverter<Object> keys = avroConverter(registry, true), values = avroConverter(registry, false);
      final SimpleHeaderConverter headerText = new SimpleHeaderConverter();
      final Base64.Encoder base64 = Base64.getEncoder();
      engine = DebeziumEngine.create(ChangeEventFormat.of(Connect.class))
          .using(props)
          .notifying((List<RecordChangeEvent<SourceRecord>> records, DebeziumEngine.RecordCommitter<RecordChangeEvent<SourceRecord>> committer) -> {
            for (RecordChangeEvent<SourceRecord> event : records) {
              SourceRecord r = event.record();
              ObjectNode line = mapper.createObjectNode();
              line.put("topic", r.topic());
              byte[] key = keys.fromConnectData(r.topic(), r.keySchema(), r.key());
              byte[] value = values.fromConnectData(r.topic(), r.valueSchema(), r.value());
              line.put("key", key == null ? null : base64.encodeToString(key));
              line.put("value", value == null ? null : base64.encodeToString(value));
              ObjectNode headers = line.putObject("headers");
              for (org.apache.kafka.connect.header.Header h : r.headers()) {
                byte[] text = headerText.fromConnectHeader(r.topic(), h.key(), h.schema(), h.value());
                headers.put(h.key(), text == null ? null : new String(text, StandardCharsets.UTF_8));
              }
              take.accept(line);
              committer.markProcessed(event);
            }
            out.flush();
            committer.markBatchFinished();
          })
          .using(stopped)
          .build();
    }
    ExecutorService executor = Executors.newSingleThreadExecutor();
    executor.execute(engine);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        engine.close();
      } catch (Exception e) {
        // stopping anyway
      }
    }));
    done.await();
    if (count >= 0) {
      out.println("{\"records\": " + seen.get() + ", \"first_ms\": " + first.get() + ", \"last_ms\": " + last.get() + "}");
      out.flush();
    }
    try {
      engine.close();
    } catch (Exception e) {
      // it stopped on its own
    }
    executor.shutdownNow();
    System.exit(count >= 0 && seen.get() >= count ? 0 : 1);
  }

  static AvroConverter<Object> avroConverter(String registry, boolean isKey) {
    AvroConverter<Object> converter = new AvroConverter<>();
    converter.configure(Map.of("apicurio.registry.url", registry, "apicurio.registry.as-confluent", "true",
        "apicurio.registry.use-id", "contentId", "apicurio.registry.headers.enabled", "false",
        "apicurio.registry.auto-register", "true"), isKey);
    return converter;
  }
}
