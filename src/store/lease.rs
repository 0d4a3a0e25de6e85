//! Who holds a lease, and whether that process is gone. A lease owner's name says which process
//! it was precisely enough to tell one that stopped from one still running, or from a later
//! process given the same id: the kernel's boot id (random each boot: machines can share a name,
//! not a boot id), the PID namespace (a container has its own), the process id and the process's
//! start time; then 64 random bits, so two stores of one process differ.
//! `BOOT:PIDNS:PID:START/RANDOM`. Where the system cannot say (not Linux), no holder is ever
//! taken for dead and leases run out in their own time.

/// A name for one store's leases.
pub(crate) fn lease_owner() -> String {
    let mut bytes = [0u8; 8];
    getrandom::getrandom(&mut bytes).expect("the system's random source");
    let process = Process::this().map(|p| p.name()).unwrap_or_else(|| format!("pid-{}", std::process::id()));
    format!("{process}/{:016x}", u64::from_le_bytes(bytes))
}

/// Whether the lease holder `owner` (a [`lease_owner`] name) was a process of this machine, since
/// its last boot and in this PID namespace, that is no longer running. Anything else — a process
/// elsewhere, one still running, a name of an older form, a system that cannot tell — counts as
/// alive.
pub(crate) fn lease_owner_is_dead(owner: &str) -> bool {
    let holder = owner.split_once('/').and_then(|(process, _)| Process::parse(process));
    let (Some(holder), Some(this)) = (holder, Process::this()) else { return false };
    if holder.boot != this.boot || holder.pid_namespace != this.pid_namespace {
        return false;
    }
    if holder.pid == this.pid {
        // This very process (a store opened twice), or an earlier one given the same id.
        return holder.start != this.start;
    }
    !running(holder.pid) || start_time(holder.pid).is_some_and(|start| start != holder.start)
}

/// One process, as the kernel knows it.
#[derive(Debug, PartialEq)]
struct Process {
    boot: String,
    pid_namespace: String,
    pid: u32,
    /// Clock ticks after boot at which it started (field 22 of `/proc/PID/stat`).
    start: u64,
}

impl Process {
    fn this() -> Option<Process> {
        let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?.trim().to_string();
        let namespace = std::fs::read_link("/proc/self/ns/pid").ok()?;
        // "pid:[4026531836]": the number alone.
        let pid_namespace = namespace.to_str()?.trim_start_matches("pid:[").trim_end_matches(']').to_string();
        let pid = std::process::id();
        Some(Process { boot, pid_namespace, pid, start: start_time(pid)? })
    }

    fn name(&self) -> String {
        format!("{}:{}:{}:{}", self.boot, self.pid_namespace, self.pid, self.start)
    }

    fn parse(name: &str) -> Option<Process> {
        let mut parts = name.split(':');
        let process = Process {
            boot: parts.next()?.to_string(),
            pid_namespace: parts.next()?.to_string(),
            pid: parts.next()?.parse().ok()?,
            start: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(process)
    }
}

/// When process `pid` started (clock ticks after boot), while it runs and this process may read it.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name, which may hold spaces and parentheses: field 3 (state) onwards.
    stat.rsplit_once(')')?.1.split_whitespace().nth(22 - 3)?.parse().ok()
}

/// Whether process `pid` exists (another user's counts too: the kernel says it exists even when
/// it does not let this process signal it, or `/proc` hides it).
#[cfg(unix)]
fn running(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return true };
    // SAFETY: signal 0 sends nothing; `kill` only checks that the process exists.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

#[cfg(not(unix))]
fn running(_pid: u32) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_stopped_process_of_this_boot_and_namespace_loses_its_leases() {
        let Some(this) = Process::this() else { return };
        let same = |pid: u32, start: u64| {
            format!("{}/00000000000000ab", Process { pid, start, ..Process::this().unwrap() }.name())
        };
        let mut running = std::process::Command::new("sleep").arg("30").spawn().expect("`sleep` runs");
        let started = start_time(running.id()).expect("its start time");
        assert!(!lease_owner_is_dead(&lease_owner()), "this process");
        assert!(!lease_owner_is_dead(&same(running.id(), started)), "a process still running");
        assert!(lease_owner_is_dead(&same(running.id(), started + 1)), "an earlier process given the same id");
        assert!(lease_owner_is_dead(&same(this.pid, this.start + 1)), "an earlier process given this one's id");
        running.kill().unwrap();
        running.wait().unwrap();
        assert!(lease_owner_is_dead(&same(running.id(), started)), "a process that stopped");
        let elsewhere =
            Process { boot: "another-boot".into(), pid: running.id(), start: started, ..Process::this().unwrap() };
        assert!(!lease_owner_is_dead(&format!("{}/ab", elsewhere.name())), "another machine, or before a reboot");
        let contained =
            Process { pid_namespace: "1".into(), pid: running.id(), start: started, ..Process::this().unwrap() };
        assert!(!lease_owner_is_dead(&format!("{}/ab", contained.name())), "another PID namespace");
        assert!(!lease_owner_is_dead(&format!("host/{}-00000000000000ab", running.id())), "a name of an older form");
    }
}
