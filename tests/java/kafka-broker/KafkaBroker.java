// Apache Kafka's broker in one JVM: formats its log directory the first time (a new cluster id and
// the SCRAM users given), then runs it until SIGTERM. Used by scripts/servers/kafka.sh.
//   KafkaBroker <server.properties> <log dir> ['SCRAM-SHA-512=[name=u,password=p]' ...]
import java.io.File;
import java.util.ArrayList;
import java.util.List;

public final class KafkaBroker {
  public static void main(String[] args) {
    if (args.length < 2) {
      System.err.println("usage: KafkaBroker <server.properties> <log dir> [SCRAM credential ...]");
      System.exit(2);
    }
    if (!new File(args[1], "meta.properties").exists()) {
      List<String> format = new ArrayList<>(List.of("format", "-c", args[0], "-t",
          org.apache.kafka.common.Uuid.randomUuid().toString()));
      for (int i = 2; i < args.length; ++i) {
        format.add("--add-scram");
        format.add(args[i]);
      }
      int rc = kafka.tools.StorageTool.execute(format.toArray(new String[0]), System.err);
      if (rc != 0) System.exit(rc);
    }
    kafka.Kafka.main(new String[] {args[0]});
  }
}
