//! Emits the linker arguments a Node addon needs (napi symbols resolved by the host at load).
fn main() {
    napi_build::setup();
}
