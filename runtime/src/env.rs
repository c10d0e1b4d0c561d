//! Runtime configuration from the environment: `GORO_MAXPROCS`, `GORO_STACK_SIZE`,
//! `GORO_SCHEDTRACE`. A bad value is an error naming the variable and the value,
//! never a silent default.

use std::fmt;

/// The default runtime's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Config {
    pub(crate) procs: usize,
    pub(crate) stack_size: usize,
    pub(crate) schedtrace_ms: Option<u64>,
}

/// A bad environment variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EnvError {
    var: &'static str,
    value: String,
    why: String,
}

impl fmt::Display for EnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "goro: bad environment variable {}={:?}: {}", self.var, self.value, self.why)
    }
}

/// Available parallelism (honours cgroup CPU quotas and affinity masks).
pub(crate) fn default_procs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Config {
    pub(crate) fn from_env() -> Result<Config, EnvError> {
        Config::from_lookup(|k| std::env::var_os(k).map(|v| v.to_string_lossy().into_owned()))
    }

    pub(crate) fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, EnvError> {
        let err = |var: &'static str, value: &str, why: &str| EnvError {
            var,
            value: value.into(),
            why: why.into(),
        };
        let procs = match get("GORO_MAXPROCS") {
            None => default_procs(),
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if (1..=1 << 16).contains(&n) => n,
                Ok(_) => return Err(err("GORO_MAXPROCS", &v, "must be between 1 and 65536")),
                Err(_) => return Err(err("GORO_MAXPROCS", &v, "not a positive integer")),
            },
        };
        let stack_size = match get("GORO_STACK_SIZE") {
            None => goro_stack::DEFAULT_STACK_SIZE,
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) => goro_stack::validate_stack_size(n)
                    .map_err(|e| err("GORO_STACK_SIZE", &v, &e.to_string()))?,
                Err(_) => return Err(err("GORO_STACK_SIZE", &v, "not a number of bytes")),
            },
        };
        let schedtrace_ms = match get("GORO_SCHEDTRACE") {
            None => None,
            Some(v) => match v.trim().parse::<u64>() {
                Ok(0) => None,
                Ok(n) => Some(n),
                Err(_) => return Err(err("GORO_SCHEDTRACE", &v, "not a number of milliseconds")),
            },
        };
        Ok(Config { procs, stack_size, schedtrace_ms })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, EnvError> {
        Config::from_lookup(|k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn defaults() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.procs, default_procs());
        assert_eq!(c.stack_size, goro_stack::DEFAULT_STACK_SIZE);
        assert_eq!(c.schedtrace_ms, None);
    }

    #[test]
    fn good_values() {
        let c = cfg(&[
            ("GORO_MAXPROCS", "3"),
            ("GORO_STACK_SIZE", "1048576"),
            ("GORO_SCHEDTRACE", "100"),
        ])
        .unwrap();
        assert_eq!(c, Config { procs: 3, stack_size: 1 << 20, schedtrace_ms: Some(100) });
    }

    #[test]
    fn bad_values_name_the_variable_and_value() {
        for (var, val) in [
            ("GORO_MAXPROCS", "abc"),
            ("GORO_MAXPROCS", "0"),
            ("GORO_MAXPROCS", "-2"),
            ("GORO_STACK_SIZE", "12345"),
            ("GORO_STACK_SIZE", "big"),
            ("GORO_SCHEDTRACE", "soon"),
        ] {
            let e = cfg(&[(var, val)]).unwrap_err().to_string();
            assert!(e.contains(var) && e.contains(val), "{e}");
        }
    }
}
