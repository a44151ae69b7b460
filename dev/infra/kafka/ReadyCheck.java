// Readiness probe run as a single-file Java program with the broker's own
// classpath (kafka-clients): creates a probe topic if needed, produces one
// record with acks=all and consumes it back. Exit 0 when the round trip worked.
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class ReadyCheck {
    public static void main(String[] args) throws Exception {
        String servers = "127.0.0.1:" + args[0];
        String topic = "_fs_ready";
        Properties common = new Properties();
        common.put("bootstrap.servers", servers);
        common.put("request.timeout.ms", "5000");
        common.put("default.api.timeout.ms", "10000");
        try (Admin admin = Admin.create(common)) {
            admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get();
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) throw e;
        }
        String marker = UUID.randomUUID().toString();
        Properties p = new Properties();
        p.putAll(common);
        p.put("acks", "all");
        p.put("enable.idempotence", "true");
        p.put("key.serializer", StringSerializer.class.getName());
        p.put("value.serializer", StringSerializer.class.getName());
        long offset;
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
            offset = producer.send(new ProducerRecord<>(topic, 0, marker, marker)).get().offset();
        }
        Properties c = new Properties();
        c.putAll(common);
        c.put("key.deserializer", StringDeserializer.class.getName());
        c.put("value.deserializer", StringDeserializer.class.getName());
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(c)) {
            consumer.assign(List.of(tp));
            consumer.seek(tp, offset);
            long deadline = System.currentTimeMillis() + 10000;
            while (System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                    if (marker.equals(r.value())) {
                        System.out.println("kafka round trip ok on " + servers);
                        return;
                    }
                }
            }
        }
        System.err.println("produced record not consumed back");
        System.exit(1);
    }
}
