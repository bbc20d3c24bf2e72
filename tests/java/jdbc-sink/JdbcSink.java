// Runs Debezium's JDBC sink connector in Kafka Connect's standalone worker, in this process, as the
// benchmark runs it beside the relay's reverse path (bench/jdbc_sink_bench.cpp): one task reads a
// topic through Kafka Connect's JsonConverter (values with their schema) and upserts each record into
// a PostgreSQL table, and the program stops by itself once the table holds the rows it was told.
//   JdbcSink <bootstrap servers> <connector.properties> <rows>
// The connector's properties file holds at least connection.url, connection.username,
// connection.password, topics and collection.name.format (the table: a plain name, made before);
// what it does not set is given here: insert.mode=upsert, primary.key.mode=record_value with
// primary.key.fields=id, schema.evolution=none, batch.size=5000 (the worker's consumer polls as many,
// and fetches up to 8 MB a partition so that a poll can hold them).
// The ids of the records are 1..rows, one partition, so the largest id in the table (an index
// lookup, cheap beside the sink's own work) tells its progress; once it is `rows`, SELECT count(*)
// must say `rows` too. Logs go to standard error (the worker's warnings and errors, Hibernate's
// start-up); standard output gets one line:
//   {"rows": n, "started_ms": …, "first_ms": …, "first_rows": n, "last_ms": …}
// (wall-clock times: the worker started, the first rows seen committed and how many, the last row
// seen committed), and the program exits 0; 1 when the table did not get there in 900 s, 2 (usage)
// without its three arguments.
import java.io.FileReader;
import java.io.FileWriter;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.Properties;

import org.apache.kafka.connect.cli.ConnectStandalone;

public final class JdbcSink {
  public static void main(String[] args) throws Exception {
    if (args.length != 3) {
      System.err.println("usage: JdbcSink <bootstrap servers> <connector.properties> <rows>");
      System.exit(2);
    }
    System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", System.getProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn"));
    System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
    final String brokers = args[0];
    final long rows = Long.parseLong(args[2]);
    Properties connector = new Properties();
    try (FileReader in = new FileReader(args[1], StandardCharsets.UTF_8)) {
      connector.load(in);
    }
    final String topic = connector.getProperty("topics");
    connector.putIfAbsent("name", "jdbc-sink-" + topic);
    connector.putIfAbsent("connector.class", "io.debezium.connector.jdbc.JdbcSinkConnector");
    connector.putIfAbsent("tasks.max", "1");
    connector.putIfAbsent("insert.mode", "upsert");
    connector.putIfAbsent("primary.key.mode", "record_value");
    connector.putIfAbsent("primary.key.fields", "id");
    connector.putIfAbsent("schema.evolution", "none");
    connector.putIfAbsent("batch.size", "5000");
    final String table = connector.getProperty("collection.name.format");
    final String id = connector.getProperty("primary.key.fields");

    Path dir = Files.createTempDirectory("jdbc-sink");
    dir.toFile().deleteOnExit();
    Properties worker = new Properties();
    worker.setProperty("bootstrap.servers", brokers);
    worker.setProperty("key.converter", "org.apache.kafka.connect.json.JsonConverter");
    worker.setProperty("key.converter.schemas.enable", "false");
    worker.setProperty("value.converter", "org.apache.kafka.connect.json.JsonConverter");
    worker.setProperty("value.converter.schemas.enable", "true");
    worker.setProperty("offset.storage.file.filename", dir.resolve("offsets").toString());
    worker.setProperty("offset.flush.interval.ms", "10000");
    worker.setProperty("listeners", "http://127.0.0.1:0");
    worker.setProperty("plugin.discovery", "service_load");
    worker.setProperty("consumer.max.poll.records", connector.getProperty("batch.size"));
    worker.setProperty("consumer.max.partition.fetch.bytes", "8388608");
    worker.setProperty("consumer.auto.offset.reset", "earliest");
    Path workerFile = dir.resolve("worker.properties"), connectorFile = dir.resolve("connector.properties");
    try (FileWriter out = new FileWriter(workerFile.toFile(), StandardCharsets.UTF_8)) {
      worker.store(out, null);
    }
    try (FileWriter out = new FileWriter(connectorFile.toFile(), StandardCharsets.UTF_8)) {
      connector.store(out, null);
    }
    workerFile.toFile().deleteOnExit();
    connectorFile.toFile().deleteOnExit();
    dir.resolve("offsets").toFile().deleteOnExit();

    final PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
    final long started = System.currentTimeMillis();
    // The standalone worker exits the process itself when it cannot start or the connector fails to.
    Thread connect = new Thread(() -> new ConnectStandalone(workerFile.toString(), connectorFile.toString()).run(), "connect-standalone");
    connect.setDaemon(true);
    connect.start();

    long first = 0, firstRows = 0, last = 0;
    try (Connection db = DriverManager.getConnection(connector.getProperty("connection.url"),
             connector.getProperty("connection.username"), connector.getProperty("connection.password"));
         Statement st = db.createStatement()) {
      db.setAutoCommit(true);
      final String progress = "SELECT coalesce(max(" + id + "), 0) FROM " + table;
      final String count = "SELECT count(*) FROM " + table;
      for (;;) {
        if (System.currentTimeMillis() - started > 900_000) {
          System.err.println("jdbc-sink: the table did not get " + rows + " rows in 900 s");
          System.exit(1);
        }
        long largest = scalar(st, progress);
        long now = System.currentTimeMillis();
        if (largest > 0 && first == 0) {
          first = now;
          firstRows = largest;
        }
        if (largest >= rows) {
          long n = scalar(st, count);
          if (n >= rows) {
            last = now;
            if (n != rows) System.err.println("jdbc-sink: the table holds " + n + " rows, more than " + rows);
            break;
          }
          Thread.sleep(200);
          continue;
        }
        Thread.sleep(20);
      }
    }
    out.println("{\"rows\": " + rows + ", \"started_ms\": " + started + ", \"first_ms\": " + first + ", \"first_rows\": " + firstRows
        + ", \"last_ms\": " + last + "}");
    out.flush();
    System.exit(0);
  }

  static long scalar(Statement st, String sql) throws Exception {
    try (ResultSet r = st.executeQuery(sql)) {
      r.next();
      return r.getLong(1);
    }
  }
}
