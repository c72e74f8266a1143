//! The demo behind the README's first command.

fn main() {}
