// What a stuck consumer needs explained, run as a single-file Java program
// with the broker's own classpath (kafka-clients), for a failing test to
// print: per partition of a topic the end offset, the last stable offset
// (where read_committed readers stop) and the open transactions holding it
// back; the consumer group's state, members with their assignments, and
// committed offsets.
//   java Describe.java PORT TOPIC [GROUP]
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.admin.TransactionState;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;

public class Describe {
    public static void main(String[] args) throws Exception {
        Properties config = new Properties();
        config.put("bootstrap.servers", "127.0.0.1:" + args[0]);
        config.put("request.timeout.ms", "5000");
        config.put("default.api.timeout.ms", "10000");
        String topic = args[1];
        try (Admin admin = Admin.create(config)) {
            TopicDescription description =
                admin.describeTopics(List.of(topic)).allTopicNames().get(10, TimeUnit.SECONDS).get(topic);
            List<TopicPartition> partitions = new ArrayList<>();
            for (TopicPartitionInfo info : description.partitions()) {
                partitions.add(new TopicPartition(topic, info.partition()));
            }
            Map<TopicPartition, ListOffsetsResultInfo> ends = offsets(admin, partitions, IsolationLevel.READ_UNCOMMITTED);
            Map<TopicPartition, ListOffsetsResultInfo> stable = offsets(admin, partitions, IsolationLevel.READ_COMMITTED);
            var producers = admin.describeProducers(partitions).all().get(10, TimeUnit.SECONDS);
            for (TopicPartition tp : partitions) {
                System.out.printf("%s: end %d, last stable %d%n", tp, ends.get(tp).offset(), stable.get(tp).offset());
                for (ProducerState p : producers.get(tp).activeProducers()) {
                    if (p.currentTransactionStartOffset().isPresent()) {
                        System.out.printf("  open transaction: producer %d epoch %d from offset %d, last write %d ms ago%n",
                            p.producerId(), p.producerEpoch(), p.currentTransactionStartOffset().getAsLong(),
                            System.currentTimeMillis() - p.lastTimestamp());
                    }
                }
            }
            for (TransactionListing t : admin.listTransactions().all().get(10, TimeUnit.SECONDS)) {
                TransactionState state = t.state();
                if (state != TransactionState.COMPLETE_COMMIT && state != TransactionState.COMPLETE_ABORT
                        && state != TransactionState.EMPTY) {
                    System.out.printf("transaction %s (producer %d): %s%n", t.transactionalId(), t.producerId(), t.state());
                }
            }
            if (args.length > 2) {
                String group = args[2];
                ConsumerGroupDescription g;
                try {
                    g = admin.describeConsumerGroups(List.of(group)).all().get(10, TimeUnit.SECONDS).get(group);
                } catch (ExecutionException e) {
                    System.out.printf("group %s: %s%n", group, e.getCause());
                    return;
                }
                System.out.printf("group %s: %s, coordinator %s, %d members%n",
                    group, g.groupState(), g.coordinator(), g.members().size());
                for (MemberDescription m : g.members()) {
                    System.out.printf("  member %s (%s): %s%n", m.consumerId(), m.clientId(), m.assignment().topicPartitions());
                }
                Map<TopicPartition, OffsetAndMetadata> committed =
                    admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(10, TimeUnit.SECONDS);
                for (TopicPartition tp : partitions) {
                    OffsetAndMetadata o = committed.get(tp);
                    System.out.printf("  committed %s: %s%n", tp, o == null ? "none" : Long.toString(o.offset()));
                }
            }
        }
    }

    static Map<TopicPartition, ListOffsetsResultInfo> offsets(
            Admin admin, List<TopicPartition> partitions, IsolationLevel isolation) throws Exception {
        Map<TopicPartition, OffsetSpec> latest = new java.util.HashMap<>();
        for (TopicPartition tp : partitions) latest.put(tp, OffsetSpec.latest());
        return admin.listOffsets(latest, new ListOffsetsOptions(isolation)).all().get(10, TimeUnit.SECONDS);
    }
}
