//! CPU time of a process, from `/proc/<pid>/stat` (user + system time of
//! all its threads, in clock ticks of 10 ms): the server's cost per request
//! whatever limits the throughput.

use std::time::Duration;

/// Clock ticks per second of `/proc/<pid>/stat` (`USER_HZ`, 100 on Linux).
const TICKS_PER_SEC: u64 = 100;

/// User + system CPU time of process `pid` so far, all threads; `None` where
/// `/proc` cannot tell.
pub fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

/// Fields 14 and 15 (utime, stime) of a `stat` line. The command name in
/// field 2 may hold spaces and parentheses, so fields are counted from the
/// last `)`.
fn parse_stat(stat: &str) -> Option<Duration> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis(
        (user + system) * 1000 / TICKS_PER_SEC,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_user_and_system_ticks() {
        let line = "42 (a b) c) R 1 2 3 4 5 6 7 8 9 10 150 50 0 0 20 0 1 0";
        assert_eq!(parse_stat(line), Some(Duration::from_secs(2)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn this_process_has_a_cpu_time() {
        assert!(process_cpu(std::process::id()).is_some());
    }
}
