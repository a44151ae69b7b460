//! The arithmetic of windowed aggregations, independent of storage:
//!
//! - [`tiles`]: time tiles at nested grains (e.g. 5 min ⊂ 1 h ⊂ 1 d), the
//!   tiles an event belongs to (one per grain), and the fewest tiles that
//!   cover a window exactly to the finest grain;
//! - [`state`]: mergeable partial aggregates per function, whose result
//!   never depends on the order events were folded or tiles merged;
//! - [`tile_value`]: what a stored tile holds, folded so that a replayed
//!   event is never counted twice;
//! - [`sketch`]: the sketches of the approximate functions (distinct
//!   count, percentiles) and their error bounds;
//! - [`exact_sum`]: the order-independent floating-point sum they use;
//! - [`drift`]: how far a stored tile is from the same tile recomputed.
//!
//! Materialization folds events into tiles, serving and the offline query
//! merge the tiles of a window; both use this crate, so they agree.

pub mod drift;
pub mod exact_sum;
pub mod sketch;
pub mod state;
pub mod tile_value;
pub mod tiles;

pub use exact_sum::ExactSum;
pub use state::{Event, Function, Input, Output, State};
pub use tile_value::TileValue;
pub use tiles::{Grains, Tile, TilesError};
