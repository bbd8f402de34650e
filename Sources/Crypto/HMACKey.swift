extension HMACSHA256 {
    /// A key whose padded inner and outer blocks are hashed once, so authenticating many short
    /// messages under it (one per protocol line) costs two compressions less each and allocates
    /// nothing but the result.
    public struct Key: Sendable {
        private let inner: SHA256
        private let outer: SHA256

        public init(_ key: some Sequence<UInt8>) {
            var block = Array(key)
            if block.count > SHA256.blockSize { block = SHA256.hash(block) }
            block += [UInt8](repeating: 0, count: SHA256.blockSize - block.count)
            var inner = SHA256()
            inner.update(block.map { $0 ^ 0x36 })
            var outer = SHA256()
            outer.update(block.map { $0 ^ 0x5c })
            self.inner = inner
            self.outer = outer
        }

        public func authenticate(_ message: some Sequence<UInt8>) -> [UInt8] {
            var inner = self.inner
            inner.update(message)
            return [UInt8](unsafeUninitializedCapacity: SHA256.digestSize) { digest, count in
                finish(&inner, into: UnsafeMutableRawBufferPointer(digest))
                count = SHA256.digestSize
            }
        }

        /// HMAC-SHA256 of `first` followed by `second`, written to `digest` (32 bytes): no
        /// allocation at all, for the one MAC every protocol line carries.
        public func authenticate(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer, into digest: UnsafeMutableRawBufferPointer) {
            var inner = self.inner
            inner.update(first)
            inner.update(second)
            finish(&inner, into: digest)
        }

        private func finish(_ inner: inout SHA256, into digest: UnsafeMutableRawBufferPointer) {
            var outer = self.outer
            inner.finalize(into: digest)
            outer.update(UnsafeRawBufferPointer(digest))
            outer.finalize(into: digest)
        }
    }
}
