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

        /// HMAC-SHA256 of the concatenation of `parts`.
        public func authenticate(_ parts: UnsafeRawBufferPointer...) -> [UInt8] {
            var inner = self.inner
            for part in parts { inner.update(part) }
            return finish(&inner)
        }

        public func authenticate(_ message: some Sequence<UInt8>) -> [UInt8] {
            var inner = self.inner
            inner.update(message)
            return finish(&inner)
        }

        private func finish(_ inner: inout SHA256) -> [UInt8] {
            var outer = self.outer
            withUnsafeTemporaryAllocation(byteCount: SHA256.digestSize, alignment: 8) { digest in
                inner.finalize(into: digest)
                outer.update(UnsafeRawBufferPointer(digest))
            }
            return outer.finalize()
        }
    }
}
