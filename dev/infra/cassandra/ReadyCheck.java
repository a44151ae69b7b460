// Readiness probe run as a single-file Java program with Cassandra's own
// classpath (it ships the DataStax driver): connects to 127.0.0.1:<port>
// and runs a real SELECT. Exit 0 when it answered.
import com.datastax.driver.core.Cluster;
import com.datastax.driver.core.Row;
import com.datastax.driver.core.Session;

public class ReadyCheck {
    public static void main(String[] args) {
        int port = Integer.parseInt(args[0]);
        try (Cluster cluster = Cluster.builder().addContactPoint("127.0.0.1").withPort(port)
                .withoutJMXReporting().withoutMetrics().build();
             Session session = cluster.connect()) {
            Row row = session.execute("SELECT release_version FROM system.local").one();
            System.out.println("cassandra " + row.getString("release_version") + " answers on " + port);
        } catch (Exception e) {
            System.err.println("not ready: " + e.getMessage());
            System.exit(1);
        }
    }
}
