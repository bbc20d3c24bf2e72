// Reads records as a Kafka Connect sink connector does. Each line of the input file is a JSON object
// {"topic": …, "key": …, "value": …}.
//   ConnectRead <file> [true|false]
//       key and value are the records' text (or null); Kafka Connect's JsonConverter (schemas.enable
//       as the argument says) turns them into Connect data. Prints one line per record: "ok", or
//       "error: <what the converter threw>".
//   ConnectRead <file> avro <registry url>
//       key and value are the records' bytes in base64 (or null), in the Confluent wire format;
//       Apicurio Registry's Avro converter (as Debezium's users configure it: as-confluent, content
//       ids; the registry's Apicurio API v2) turns them into Connect data, which JsonConverter with
//       schemas then writes. Prints one JSON line per record: {"key": <JsonConverter's text or null>,
//       "value": …, "key_schema_id": n, "value_schema_id": n}, or "error: …". A key or value whose
//       schema is a primitive (a string key, say) the converter gives without its Connect schema;
//       such a one is read by the converter's own AvroData against its schema, fetched by id, as
//       Confluent's converter reads it.
// Exits 1 when any record failed.
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.apicurio.registry.utils.converter.AvroConverter;
import io.apicurio.registry.utils.converter.avro.AvroData;
import io.apicurio.registry.utils.converter.avro.AvroDataConfig;
import org.apache.kafka.connect.data.SchemaAndValue;
import org.apache.kafka.connect.json.JsonConverter;
import org.apache.kafka.connect.storage.Converter;

public final class ConnectRead {
  public static void main(String[] args) throws Exception {
    final boolean avro = args.length > 1 && args[1].equals("avro");
    final boolean schemas = avro || args.length < 2 || Boolean.parseBoolean(args[1]);
    JsonConverter keys = new JsonConverter(), values = new JsonConverter();
    keys.configure(Map.of("schemas.enable", schemas), true);
    values.configure(Map.of("schemas.enable", schemas), false);
    Converter avroKeys = null, avroValues = null;
    if (avro) {
      registry = args[2];
      avroKeys = avroConverter(registry, true);
      avroValues = avroConverter(registry, false);
    }
    ObjectMapper mapper = new ObjectMapper();
    boolean failed = false;
    for (String line : Files.readAllLines(Path.of(args[0]), StandardCharsets.UTF_8)) {
      if (line.isBlank()) continue;
      JsonNode record = mapper.readTree(line);
      String topic = record.path("topic").asText("t");
      try {
        if (avro) {
          ObjectNode out = mapper.createObjectNode();
          readAvro(avroKeys, keys, topic, record.get("key"), out, "key");
          readAvro(avroValues, values, topic, record.get("value"), out, "value");
          System.out.println(out.toString());
        } else {
          read(keys, topic, record.get("key"));
          validate(read(values, topic, record.get("value")));
          System.out.println("ok");
        }
      } catch (Exception e) {
        failed = true;
        System.out.println("error: " + e.getClass().getSimpleName() + ": " + String.valueOf(e.getMessage()).replace('\n', ' '));
      }
    }
    System.exit(failed ? 1 : 0);
  }

  private static String registry;
  private static final AvroData AVRO_DATA = new AvroData(new AvroDataConfig(Map.of()));
  private static final HttpClient HTTP = HttpClient.newHttpClient();

  static Converter avroConverter(String registry, boolean isKey) {
    AvroConverter<Object> converter = new AvroConverter<>();
    converter.configure(Map.of("apicurio.registry.url", registry, "apicurio.registry.as-confluent", "true",
        "apicurio.registry.use-id", "contentId", "apicurio.registry.headers.enabled", "false",
        "apicurio.registry.auto-register", "true"), isKey);
    return converter;
  }

  private static void validate(SchemaAndValue v) {
    if (v != null && v.schema() != null && v.value() instanceof org.apache.kafka.connect.data.Struct s) s.validate();
  }

  private static SchemaAndValue read(JsonConverter converter, String topic, JsonNode text) {
    if (text == null || text.isNull()) return null;
    return converter.toConnectData(topic, text.asText().getBytes(StandardCharsets.UTF_8));
  }

  // One side of an Avro record: its schema id, and the Connect data it holds as JsonConverter writes it.
  private static void readAvro(Converter converter, JsonConverter json, String topic, JsonNode base64, ObjectNode out,
                               String side) throws Exception {
    if (base64 == null || base64.isNull()) {
      out.putNull(side);
      return;
    }
    byte[] bytes = Base64.getDecoder().decode(base64.asText());
    if (bytes.length < 5 || bytes[0] != 0) throw new IllegalArgumentException("the " + side + " is not in the Confluent wire format");
    final int id = ByteBuffer.wrap(bytes, 1, 4).getInt();
    SchemaAndValue data = converter.toConnectData(topic, bytes);
    if (data.schema() == null && data.value() != null) data = AVRO_DATA.toConnectData(avroSchema(id), data.value());
    validate(data);
    out.put(side + "_schema_id", id);
    out.put(side, new String(json.fromConnectData(topic, data.schema(), data.value()), StandardCharsets.UTF_8));
  }

  // The Avro schema of content id `id`, from the registry's Apicurio API v2.
  private static org.apache.avro.Schema avroSchema(int id) throws Exception {
    HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(registry + "/ids/contentIds/" + id)).build(),
        HttpResponse.BodyHandlers.ofString());
    if (r.statusCode() != 200) throw new IllegalStateException("the registry answered " + r.statusCode() + " for content " + id);
    return new org.apache.avro.Schema.Parser().parse(r.body());
  }
}
