import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import IQReport
import Testing

/// The report must be well-formed XML inside HTML so browsers render every chart.
@Test func chartsAreWellFormedSVG() throws {
    let charts = [
        SVGChart.lines(title: "return <curve>", xLabel: "steps", yLabel: "return",
                       series: [.init(name: "IQ-MPC & co", points: [(0, 1), (1, 3), (2, 2)], color: "#1f77b4")],
                       horizontalRules: [.init(value: 2.5, label: "expert")]),
        SVGChart.histogram(title: "latency", xLabel: "us", values: [1, 2, 2, 3, 50],
                           verticalRules: [.init(value: 40, label: "budget")]),
        SVGChart.scatter(title: "reward", xLabel: "true", yLabel: "decoded", x: [0, 1, 2], y: [0.1, 0.9, 2.2], note: "r = 0.99"),
    ]
    for svg in charts {
        let doc = try XMLDocument(xmlString: svg)
        #expect(doc.rootElement()?.name == "svg")
        #expect(!svg.contains("nan") && !svg.contains("inf"))
    }
    #expect(charts[0].contains("&lt;curve&gt;"))
    #expect(charts[1].contains("<rect"))
    #expect(charts[2].components(separatedBy: "<circle").count - 1 == 3)
}

@Test func degenerateInputsStillRender() throws {
    let empty = SVGChart.histogram(title: "none", xLabel: "x", values: [])
    _ = try XMLDocument(xmlString: empty)
    let flat = SVGChart.lines(title: "flat", xLabel: "x", yLabel: "y",
                              series: [.init(name: "c", points: [(1, 5)], color: "#000")])
    _ = try XMLDocument(xmlString: flat)
    #expect(flat.contains("<circle"))
}

/// Axis ticks are round numbers (0, 25, 50 ... not 73.21, -15.82) that cover the data.
@Test func axisTicksAreRound() throws {
    let svg = SVGChart.lines(title: "t", xLabel: "x", yLabel: "y",
                             series: [.init(name: "c", points: [(0, -15.82), (4000, 73.21)], color: "#000")])
    let labels = svg.components(separatedBy: "font-size=\"11\">").dropFirst().compactMap { $0.split(separator: "<").first.map(String.init) }
    let numbers = labels.compactMap(Double.init)
    #expect(numbers.count >= 6, "\(labels)")
    #expect(!labels.contains { $0.contains("73.21") || $0.contains("15.82") }, "\(labels)")
    #expect(numbers.contains(0) && numbers.contains(4000))
    for v in numbers {
        // Every label is a multiple of 1, 2, 2.5 or 5 times a power of ten.
        let m = abs(v) / pow(10, (log10(max(abs(v), 1e-12))).rounded(.down))
        #expect(v == 0 || [1, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 7.5, 8, 9].contains { abs($0 - m) < 1e-9 }, "\(v)")
    }
    // The data range is covered.
    #expect(numbers.min()! <= -15.82 && numbers.max()! >= 73.21)
}
