import Foundation

/// `rymi-embed OUTPUT FILE…`: writes a Swift file holding each file's text by its name, for the
/// dashboard plugin (run by the build, not installed).
let arguments = CommandLine.arguments.dropFirst()
guard let output = arguments.first, arguments.count > 1 else {
    FileHandle.standardError.write(Data("usage: rymi-embed OUTPUT FILE…\n".utf8))
    exit(2)
}

/// A raw string literal with enough `#`s that nothing in the text can end it or interpolate.
func literal(_ text: String) -> String {
    var fence = "#"
    while text.contains("\"" + fence) || text.contains("\\" + fence) { fence += "#" }
    return fence + "\"\"\"\n" + text + "\n\"\"\"" + fence
}

var swift = "// Generated at build time by rymi-embed from Sources/Gateway/Dashboard.\n\nextension Dashboard {\n    static let files: [String: String] = [\n"
for path in arguments.dropFirst() {
    let name = URL(fileURLWithPath: path).lastPathComponent
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
        FileHandle.standardError.write(Data("rymi-embed: \(path) is not readable UTF-8\n".utf8))
        exit(1)
    }
    swift += "        \"\(name)\": \(literal(text)),\n"
}
swift += "    ]\n}\n"
do {
    try swift.write(toFile: output, atomically: true, encoding: .utf8)
} catch {
    FileHandle.standardError.write(Data("rymi-embed: cannot write \(output): \(error)\n".utf8))
    exit(1)
}
