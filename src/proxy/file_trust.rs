//! Whether the callers file, which holds secret keys, may be trusted: not
//! when a user other than the proxy's or root owns it, when others may read
//! it, or when others may write a folder it is in and so replace it, as ssh
//! and PostgreSQL refuse such keys. The rules are pure functions of the
//! mode and owners, apart from the reads that feed them.

#[cfg(unix)]
use std::path::Path;

/// Why the callers file at `path` (and `resolved`, the file it resolves to
/// through any symlinks) may not be trusted; `None` when it may, or when
/// its metadata cannot be read (its content then fails to read too, with
/// an error of its own).
#[cfg(unix)]
pub(super) fn callers_file_refusal(path: &Path, resolved: Option<&Path>) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let shown = path.display();
    let metadata = std::fs::metadata(path).ok()?;
    let me = effective_uid();
    let mode = metadata.mode() & 0o777;
    if let Err(why) = owner_ok(metadata.uid(), me) {
        return Some(format!(
            "the callers file `{shown}` holds secret keys but {why} (owner uid {}); run `chown {} {shown}`",
            metadata.uid(),
            me.unwrap_or(0)
        ));
    }
    if let Err(why) = callers_file_mode_ok(mode, metadata.uid(), me) {
        return Some(format!(
            "the callers file `{shown}` holds secret keys but {why} (mode {mode:03o}); run `chmod 600 {shown}`"
        ));
    }
    // Whoever can write the folder can replace the file.
    let folders = [path.parent(), resolved.and_then(Path::parent)];
    for folder in folders.into_iter().flatten() {
        let folder = if folder.as_os_str().is_empty() {
            Path::new(".")
        } else {
            folder
        };
        let Ok(meta) = std::fs::metadata(folder) else {
            continue;
        };
        if let Err(why) = folder_ok(meta.mode() & 0o7777, meta.uid(), me) {
            return Some(format!(
                "the callers file `{shown}` holds secret keys but its folder `{}` {why} (mode {:03o}, owner uid {}); keep it in a folder only the proxy's user or root can write",
                folder.display(),
                meta.mode() & 0o7777,
                meta.uid()
            ));
        }
    }
    None
}

/// The owner of a secret file or its folder: the proxy's user or root.
pub fn owner_ok(owner: u32, me: Option<u32>) -> Result<(), &'static str> {
    if owner == 0 || Some(owner) == me {
        Ok(())
    } else {
        Err("belongs to another user than the proxy's or root")
    }
}

/// PostgreSQL's rule for its key file: owned by the proxy's user, no access
/// for group or others; owned by root, the group may also read (what a
/// Kubernetes Secret volume with an fsGroup gives).
pub fn callers_file_mode_ok(mode: u32, owner: u32, me: Option<u32>) -> Result<(), &'static str> {
    let forbidden = if owner == 0 && me != Some(0) {
        0o037
    } else {
        0o077
    };
    if mode & forbidden == 0 {
        Ok(())
    } else if forbidden == 0o037 {
        Err("is writable by its group or open to others")
    } else {
        Err("is readable by group or others")
    }
}

/// A folder holding the callers file: owned by the proxy's user or root,
/// and not writable by others unless sticky (as `/tmp` and Kubernetes
/// volume roots are: there only a file's owner may replace it).
pub fn folder_ok(mode: u32, owner: u32, me: Option<u32>) -> Result<(), &'static str> {
    const STICKY: u32 = 0o1000;
    if owner_ok(owner, me).is_err() {
        Err("belongs to another user than the proxy's or root")
    } else if mode & 0o002 != 0 && mode & STICKY == 0 {
        Err("can be written by other users")
    } else {
        Ok(())
    }
}

/// The process's effective user id, from /proc (no libc needed); `None`
/// where there is no /proc.
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers_file_permissions() {
        type Rule = fn(u32, u32, Option<u32>) -> Result<(), &'static str>;
        // Each case: (mode, owner uid, accepted), for the proxy's uid `me`.
        let check = |rule: Rule, me: Option<u32>, cases: &[(u32, u32, bool)]| {
            for &(mode, owner, accepted) in cases {
                let got = rule(mode, owner, me).is_ok();
                assert_eq!(got, accepted, "{mode:o} owned by {owner}, proxy {me:?}");
            }
        };
        let (me, root) = (Some(1000), Some(0));
        let mode = callers_file_mode_ok;
        let own = [
            (0o600, 1000, true),
            (0o400, 1000, true),
            (0o640, 1000, false),
        ];
        check(mode, me, &own);
        check(mode, me, &[(0o604, 1000, false)]);
        // Root-owned, group-readable: a Kubernetes Secret with an fsGroup.
        let roots = [(0o440, 0, true), (0o640, 0, true), (0o660, 0, false)];
        check(mode, me, &roots);
        check(mode, me, &[(0o444, 0, false)]);
        // The proxy running as root gets the strict rule.
        check(mode, root, &[(0o440, 0, false)]);
        check(mode, None, &[(0o600, 0, true)]);
        // Owned by the proxy's user or root, never by another user.
        let owner: Rule = |_, owner, me| owner_ok(owner, me);
        let owners = [(0, 1000, true), (0, 0, true), (0, 1001, false)];
        check(owner, me, &owners);
        check(owner, None, &[(0, 1001, false)]);
        // Its folder: nobody else may write it, unless it is sticky.
        let shut = [(0o755, 1000, true), (0o755, 0, true), (0o775, 0, true)];
        check(folder_ok, me, &shut);
        let open = [(0o1777, 0, true), (0o777, 0, false), (0o757, 1000, false)];
        check(folder_ok, me, &open);
        let others = [(0o700, 1001, false), (0o1777, 1001, false)];
        check(folder_ok, me, &others);
        assert!(effective_uid().is_some());
    }
}
