// Reads records as a Kafka Connect sink connector does: each line of the input file is a JSON object
// {"topic": …, "key": <the record key's text, or null>, "value": <the value's text, or null>};
// Kafka Connect's JsonConverter (schemas.enable as the second argument says) turns key and value
// into Connect data. Prints one line per record: "ok", or "error: <what the converter threw>";
// exits 1 when any record failed.
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.kafka.connect.data.SchemaAndValue;
import org.apache.kafka.connect.json.JsonConverter;

public final class ConnectRead {
  public static void main(String[] args) throws Exception {
    boolean schemas = args.length < 2 || Boolean.parseBoolean(args[1]);
    JsonConverter keys = new JsonConverter(), values = new JsonConverter();
    keys.configure(Map.of("schemas.enable", schemas), true);
    values.configure(Map.of("schemas.enable", schemas), false);
    ObjectMapper mapper = new ObjectMapper();
    boolean failed = false;
    for (String line : Files.readAllLines(Path.of(args[0]), StandardCharsets.UTF_8)) {
      if (line.isBlank()) continue;
      JsonNode record = mapper.readTree(line);
      String topic = record.path("topic").asText("t");
      try {
        read(keys, topic, record.get("key"));
        SchemaAndValue v = read(values, topic, record.get("value"));
        if (v != null && v.schema() != null && v.value() instanceof org.apache.kafka.connect.data.Struct s) s.validate();
        System.out.println("ok");
      } catch (Exception e) {
        failed = true;
        System.out.println("error: " + e.getClass().getSimpleName() + ": " + e.getMessage().replace('\n', ' '));
      }
    }
    System.exit(failed ? 1 : 0);
  }

  private static SchemaAndValue read(JsonConverter converter, String topic, JsonNode text) {
    if (text == null || text.isNull()) return null;
    return converter.toConnectData(topic, text.asText().getBytes(StandardCharsets.UTF_8));
  }
}
