//! Stack size validation: powers of two from 16 KiB to 1 GiB; errors name the value.

use goro_stack::{validate_stack_size, PooledStack, Stack};

#[test]
fn bad_sizes_are_named() {
    for bad in [0usize, 1000, 12345, 3 << 20, 2 << 30] {
        let e = validate_stack_size(bad).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains(&bad.to_string()), "{e}");
        let e = PooledStack::acquire(bad).unwrap_err();
        assert!(e.to_string().contains(&bad.to_string()), "{e}");
    }
    assert_eq!(
        validate_stack_size(12345).unwrap_err().to_string(),
        "goro: stack size 12345 is not a power of two (16 KiB ..= 1 GiB)"
    );
}

#[test]
fn good_sizes_pass() {
    for good in [16 << 10, 256 << 10, 1 << 30] {
        assert_eq!(validate_stack_size(good).unwrap(), good);
    }
    let s = PooledStack::acquire(16 << 10).unwrap();
    assert_eq!(s.size(), (16 << 10) - goro_stack::HEADER_SIZE);
    let s = PooledStack::acquire(1 << 30).unwrap();
    assert_eq!(s.size(), (1 << 30) - goro_stack::HEADER_SIZE);
    assert_eq!(s.top() as usize % 16, 0);
}
