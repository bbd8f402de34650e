// libFuzzer target: the streaming CSV reader must never crash, and reading an input in two
// pieces split anywhere must give what reading it whole gives (a request body arrives in pieces).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCSV(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    func read(_ pieces: [[UInt8]]) -> Result<[[String]], CSVReader.Problem> {
        var reader = CSVReader(limits: CSVReader.Limits(maxFieldBytes: 64, maxRecordBytes: 256, maxFields: 8))
        var records: [[String]] = []
        do {
            for piece in pieces { try reader.feed(piece) { records.append($0) } }
            try reader.finish { records.append($0) }
            return .success(records)
        } catch {
            return .failure(error as! CSVReader.Problem)
        }
    }
    let whole = read([bytes])
    let cut = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
    let split = read([Array(bytes[..<cut]), Array(bytes[cut...])])
    switch (whole, split) {
    case (.success(let a), .success(let b)): precondition(a == b, "a split changed the records")
    case (.failure(let a), .failure(let b)): precondition(a == b, "a split changed the problem")
    default: preconditionFailure("a split changed whether the input reads")
    }
    return 0
}
