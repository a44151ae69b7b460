//! Where a client may point this service at files. Entity rows given by
//! location (`EntitySource.parquet_path` / `delta_path`) are read only under
//! the roots in `query.entity_roots`; with none configured, only inline
//! Arrow rows are accepted. Otherwise any caller could make the service read
//! any Parquet or Delta table it can reach.
//!
//! A local location is resolved the way the file system will open it
//! (`canonicalize`: `..`, `.` and every symlink followed) and must then lie
//! under a root (compared by path components, so `/data/rows2` is not under
//! `/data/rows`); the resolved path is what the query reads, so a symlink
//! inside a root that points out of it is refused too. What does not
//! resolve is judged by its nearest ancestor that does, so an answer never
//! tells whether something outside the roots exists. Object-store locations
//! are refused: this build reads local files only.

use std::path::{Path, PathBuf};

use crate::error::OfflineError;

/// The configured roots, resolved once at startup.
#[derive(Debug, Clone, Default)]
pub struct EntityRoots {
    /// Canonical directories.
    roots: Vec<PathBuf>,
}

/// The local path of a location (`/…` or `file:///…`); `None` for another
/// scheme.
fn local_path(location: &str) -> Option<&str> {
    match location.split_once("://") {
        None => Some(location),
        Some(("file", path)) => Some(path),
        Some(_) => None,
    }
}

impl EntityRoots {
    /// Resolves `roots`: absolute directories that exist (canonicalized,
    /// so a root reached through a symlink works as its target).
    pub fn new(roots: &[String]) -> Result<Self, String> {
        let mut resolved = Self::default();
        for root in roots {
            let path = local_path(root)
                .filter(|p| Path::new(p).is_absolute())
                .ok_or_else(|| format!("query.entity_roots: {root:?} is not an absolute path"))?;
            let canonical = Path::new(path)
                .canonicalize()
                .map_err(|e| format!("query.entity_roots: {root} cannot be resolved: {e}"))?;
            if !canonical.is_dir() {
                return Err(format!("query.entity_roots: {root} is not a directory"));
            }
            resolved.roots.push(canonical);
        }
        Ok(resolved)
    }

    /// The location to read for a client-given `location` (reported as
    /// `field`), or why it is refused: PERMISSION_DENIED when it is outside
    /// every root (or no root is configured), NOT_FOUND when a location
    /// under a root does not exist, INVALID_ARGUMENT when it is malformed.
    pub fn confine(&self, field: &str, location: &str) -> Result<String, OfflineError> {
        if self.roots.is_empty() {
            return Err(OfflineError::PermissionDenied(format!(
                "{field}: entity rows by location are off on this service \
                 (no query.entity_roots configured); send them inline as an Arrow IPC stream"
            )));
        }
        if location.is_empty() || location.contains('\0') {
            return Err(OfflineError::invalid(field, "give a location"));
        }
        let path = local_path(location).map(Path::new).ok_or_else(|| {
            OfflineError::invalid(
                field,
                format!("{location}: only local paths are read (no object-store support)"),
            )
        })?;
        if !path.is_absolute() {
            return Err(OfflineError::invalid(
                field,
                format!("{location} is not an absolute path"),
            ));
        }
        let under = |p: &Path| self.roots.iter().any(|root| p.starts_with(root));
        match path.canonicalize() {
            Ok(canonical) if under(&canonical) => canonical
                .into_os_string()
                .into_string()
                .map_err(|_| OfflineError::invalid(field, format!("{location} is not UTF-8"))),
            Ok(_) => Err(outside(field, location)),
            Err(e) => {
                let ancestor = path.ancestors().skip(1).find_map(|a| a.canonicalize().ok());
                match ancestor {
                    Some(a) if under(&a) => Err(match e.kind() {
                        std::io::ErrorKind::NotFound => {
                            OfflineError::NotFound(format!("{field}: {location}"))
                        }
                        _ => OfflineError::invalid(field, format!("{location}: {e}")),
                    }),
                    _ => Err(outside(field, location)),
                }
            }
        }
    }
}

fn outside(field: &str, location: &str) -> OfflineError {
    OfflineError::PermissionDenied(format!(
        "{field}: {location} is outside the entity roots this service reads"
    ))
}

#[cfg(test)]
mod tests {
    use featurestore_proto::ServiceError;

    use super::*;

    fn code(r: Result<String, OfflineError>) -> tonic::Code {
        r.map(|_| ()).unwrap_err().error_code().grpc_code()
    }

    #[test]
    fn local_locations_resolve_only_under_a_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("rows");
        let outside = dir.path().join("secret");
        std::fs::create_dir_all(root.join("daily")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(root.join("daily/entities.parquet"), b"x").unwrap();
        std::fs::write(outside.join("keys.parquet"), b"x").unwrap();
        // Beside the root, sharing its name as a prefix.
        std::fs::create_dir_all(dir.path().join("rows2")).unwrap();
        std::fs::write(dir.path().join("rows2/a.parquet"), b"x").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("escape")).unwrap();
        std::os::unix::fs::symlink(outside.join("keys.parquet"), root.join("link.parquet"))
            .unwrap();
        std::os::unix::fs::symlink(root.join("daily"), dir.path().join("alias")).unwrap();
        let roots = EntityRoots::new(&[root.to_string_lossy().into()]).unwrap();
        let at = |p: &Path| p.to_string_lossy().into_owned();
        let field = "entities.parquet_path";

        let inside = root.join("daily/entities.parquet");
        let resolved = roots.confine(field, &at(&inside)).unwrap();
        assert_eq!(resolved, at(&inside.canonicalize().unwrap()));
        let dotted = root.join("daily/../daily/./entities.parquet");
        assert_eq!(roots.confine(field, &at(&dotted)).unwrap(), resolved);
        // A link from outside into the root reads what it points at.
        let via_alias = dir.path().join("alias/entities.parquet");
        assert_eq!(roots.confine(field, &at(&via_alias)).unwrap(), resolved);
        assert_eq!(
            roots
                .confine(field, &format!("file://{}", at(&inside)))
                .unwrap(),
            resolved
        );

        let denied = tonic::Code::PermissionDenied;
        for escape in [
            root.join("../secret/keys.parquet"),
            root.join("daily/../../secret/keys.parquet"),
            outside.join("keys.parquet"),
            root.join("escape/keys.parquet"),
            root.join("link.parquet"),
            dir.path().join("rows2/a.parquet"),
            PathBuf::from("/etc/passwd"),
            // Missing outside a root: the same answer as present.
            PathBuf::from("/etc/no-such-file"),
            root.join("../secret/no-such-file"),
        ] {
            assert_eq!(
                code(roots.confine(field, &at(&escape))),
                denied,
                "{escape:?}"
            );
        }
        let missing = root.join("daily/missing.parquet");
        assert_eq!(
            code(roots.confine(field, &at(&missing))),
            tonic::Code::NotFound
        );
        for malformed in [
            "",
            "daily/entities.parquet",
            "../rows/daily/entities.parquet",
        ] {
            assert_eq!(
                code(roots.confine(field, malformed)),
                tonic::Code::InvalidArgument,
                "{malformed:?}"
            );
        }
    }

    #[test]
    fn without_roots_no_location_is_read() {
        let roots = EntityRoots::new(&[]).unwrap();
        let err = roots.confine("entities.delta_path", "/tmp").unwrap_err();
        assert_eq!(err.error_code().grpc_code(), tonic::Code::PermissionDenied);
        assert!(err.to_string().contains("entities.delta_path"), "{err}");
        assert!(err.to_string().contains("inline"), "{err}");
    }

    #[test]
    fn object_store_locations_and_bad_roots_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let roots = EntityRoots::new(&[dir.path().to_string_lossy().into()]).unwrap();
        let err = roots
            .confine("entities.delta_path", "s3://bucket/entities")
            .unwrap_err();
        assert_eq!(err.error_code().grpc_code(), tonic::Code::InvalidArgument);
        assert!(EntityRoots::new(&["s3://bucket/entities".into()]).is_err());
        assert!(EntityRoots::new(&["".into()]).is_err());
        std::fs::write(dir.path().join("file"), b"x").unwrap();
        assert!(EntityRoots::new(&[dir.path().join("file").to_string_lossy().into()]).is_err());
        assert!(EntityRoots::new(&["relative/dir".into()]).is_err());
        assert!(EntityRoots::new(&["/no/such/root/anywhere".into()]).is_err());
    }
}
