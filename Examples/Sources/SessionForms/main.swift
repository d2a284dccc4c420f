// Every form of the session API, as written in the issue that defines it,
// with variables as well as literals. Run in an empty folder:
//   swift run --package-path Examples SessionForms
import Dreamlake
import Foundation

struct Config: Codable {
    var optimizer = "adam"
    var warmupSteps = 500
    var dropout = 0.1
}

func trainEpoch() -> Double { Double.random(in: 0.1...1.0) }

func check(_ condition: Bool, _ what: String) {
    if !condition {
        FileHandle.standardError.write(Data("SessionForms: \(what) does not hold\n".utf8))
        exit(1)
    }
}

// The Swift form of the decorator and of the `with` block.
try Session.with(name: "my-experiment", workspace: "my-workspace", localPath: "./experiments") { session in
    try session.log("Training started")
    try session.parameters.set(["learning_rate": 0.001, "model": ["layers": 4, "act": "relu"]])
    for epoch in 0..<10 {
        let loss = trainEpoch()
        try session.track("loss").append(["value": loss, "epoch": epoch])
    }
}
// And the same with an async body.
try await Session.with(name: "my-experiment", workspace: "my-workspace", localPath: "./experiments") { session in
    await Task.yield()
    try session.log("Async body")
}

// Direct control.
let session = try Session(name: "resnet50-imagenet", workspace: "computer-vision", localPath: "./experiments",
                          description: "ResNet-50 with new augmentation", tags: ["resnet", "imagenet"],
                          folder: "/experiments/2025/resnet")
try session.open()
check(session.isOpen, "isOpen after open")
check(session.name == "resnet50-imagenet" && session.workspace == "computer-vision", "name and workspace")
check(session.folder == "/experiments/2025/resnet" && session.tags == ["resnet", "imagenet"], "folder and tags")
check(session.description == "ResNet-50 with new augmentation", "description")

let epoch = 3
let loss = 0.42
let step = 1200

// Logs: five levels, metadata, and the builder form.
try session.log("Hello", level: .warn, metadata: ["epoch": epoch])
try session.log(metadata: ["epoch": 1]).info("Epoch complete", ["loss": loss])
try session.log().error("Failed to save", ["path": "/models/ckpt.pth"])

// Parameters.
let config = Config()
try session.parameters.set(["lr": 0.001, "model": ["lr": 0.01, "batch_size": 32]])
try session.parameters.set(config)
let flat = try session.parameters.get()
let nested = try session.parameters.get(flatten: false)
check(flat["model.lr"] == 0.01 && flat["warmupSteps"] == 500, "flat parameters")
check(nested["model"]?.objectValue?["batch_size"] == 32, "nested parameters")

// Tracks.
let track = session.track("train_loss", description: "training loss", tags: ["train"], metadata: ["unit": "nats"])
try track.append(["value": loss, "step": step, "phase": "train"])
try track.append(value: loss, step: step)
try track.appendBatch([["value": 0.5, "step": 1], ["value": 0.45, "step": 2]])
let page = try track.read(startIndex: 0, limit: 100)
let stats = try track.stats()
let tracks = try session.tracks()
check(page.points.count == 4 && !page.hasMore && page.points[0].index == 0, "track page")
check(stats.count == 4 && stats.description == "training loss" && stats.tags == ["train"], "track stats")
check(tracks.map(\.name) == ["train_loss"], "track list")

// Files.
try Data("weights".utf8).write(to: URL(fileURLWithPath: "model.pth"))
try FileManager.default.createDirectory(atPath: "./restore", withIntermediateDirectories: true)
let file = try session.files.upload("model.pth", path: "/models", description: "best", tags: ["best"], metadata: ["epoch": 3])
let models = try session.files.list(path: "/models", tags: ["best"])
let local = try session.files.download(file.id, to: "./restore")
try session.files.update(file.id, description: "best so far", tags: ["best", "v2"])
try session.files.delete(file.id)
check(models.map(\.id) == [file.id], "file list")
check(try Data(contentsOf: URL(fileURLWithPath: local)) == Data("weights".utf8), "downloaded bytes")

try session.flush()
try session.close()
try session.close()
check(!session.isOpen, "closed")

// Python dreamlake's JSONL layout: export, import back under another name, read without writing.
try JSONLLayout.exportSession(at: session.directory, to: "./jsonl")
let imported = try JSONLLayout.importSession(from: "./jsonl/" + session.workspace + "/" + session.name,
                                             into: session.localPath, name: "resnet50-copy")
check(imported.isExact && imported.points == 4, "export and import")
let copy = try Session(name: "resnet50-copy", workspace: session.workspace, localPath: session.localPath,
                       exportOnClose: "./watched")
try copy.openForReading()
check(try copy.track("train_loss").stats().count == 4 && copy.isReadOnly, "a session opened for reading")
try copy.close()
check(FileManager.default.fileExists(atPath: "./watched/" + session.workspace + "/resnet50-copy/session.json"), "export on close")
print("SessionForms: every form works")
