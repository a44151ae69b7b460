//! Routing multi-key reads: keys grouped by the replica that owns them, and a
//! load-balancing policy that sends each group's `IN` query to that replica
//! first (the driver can't compute a token for an `IN` list on its own).

use std::sync::Arc;

use scylla::{
    cluster::{ClusterState, Node, NodeRef},
    policies::load_balancing::{FallbackPlan, LoadBalancingPolicy, RoutingInfo},
    routing::Shard,
};

/// Tries `preferred` first while it is up and connected, then whatever the
/// default policy plans (so a replica being down costs a hop, not an error).
#[derive(Debug)]
pub(crate) struct PreferReplica {
    preferred: Arc<Node>,
    default: Arc<dyn LoadBalancingPolicy>,
}

impl PreferReplica {
    pub(crate) fn policy(
        preferred: Arc<Node>,
        default: Arc<dyn LoadBalancingPolicy>,
    ) -> Arc<dyn LoadBalancingPolicy> {
        Arc::new(Self { preferred, default })
    }
}

impl LoadBalancingPolicy for PreferReplica {
    fn pick<'a>(
        &'a self,
        request: &'a RoutingInfo,
        cluster: &'a ClusterState,
    ) -> Option<(NodeRef<'a>, Option<Shard>)> {
        match cluster.get_node_by_host_id(self.preferred.host_id) {
            Some(node) if node.is_enabled() && node.is_connected() => Some((node, None)),
            _ => self.default.pick(request, cluster),
        }
    }

    fn fallback<'a>(
        &'a self,
        request: &'a RoutingInfo,
        cluster: &'a ClusterState,
    ) -> FallbackPlan<'a> {
        self.default.fallback(request, cluster)
    }

    fn name(&self) -> String {
        format!("PreferReplica({})", self.preferred.host_id)
    }
}

/// Splits `items` into groups of at most `per_group`, keeping items with the
/// same owner (as told by `key`) together; the order within a group is the
/// order of `items`.
pub(crate) fn group_by_owner<O, K: PartialEq, T>(
    items: impl IntoIterator<Item = (O, T)>,
    key: impl Fn(&O) -> K,
    per_group: usize,
) -> Vec<(O, Vec<T>)> {
    let per_group = per_group.max(1);
    let mut open: Vec<(O, Vec<T>)> = Vec::new();
    let mut full = Vec::new();
    for (owner, item) in items {
        let k = key(&owner);
        let slot = match open.iter().position(|(o, _)| key(o) == k) {
            Some(i) => i,
            None => {
                open.push((owner, Vec::with_capacity(per_group)));
                open.len() - 1
            }
        };
        open[slot].1.push(item);
        if open[slot].1.len() == per_group {
            full.push(open.swap_remove(slot));
        }
    }
    full.extend(open);
    full
}

#[cfg(test)]
mod tests {
    use super::group_by_owner;

    #[test]
    fn groups_never_mix_owners_and_respect_the_size() {
        let items = [
            (1, 'a'),
            (2, 'b'),
            (1, 'c'),
            (1, 'd'),
            (3, 'e'),
            (2, 'f'),
            (1, 'g'),
        ];
        let mut groups = group_by_owner(items, |o| *o, 2);
        groups.sort();
        assert_eq!(
            groups,
            vec![
                (1, vec!['a', 'c']),
                (1, vec!['d', 'g']),
                (2, vec!['b', 'f']),
                (3, vec!['e']),
            ]
        );
    }

    #[test]
    fn every_item_lands_once() {
        let items: Vec<(u8, usize)> = (0..1000).map(|i| ((i * 7 % 5) as u8, i)).collect();
        let groups = group_by_owner(items, |o| *o, 32);
        let mut seen: Vec<usize> = groups.iter().flat_map(|(_, g)| g.clone()).collect();
        seen.sort();
        assert_eq!(seen, (0..1000).collect::<Vec<_>>());
        assert!(groups.iter().all(|(_, g)| !g.is_empty() && g.len() <= 32));
    }
}
