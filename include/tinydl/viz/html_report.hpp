#pragma once
/// @file html_report.hpp
/// `HtmlReport`: one self-contained HTML file — inline CSS, figures as inline SVG (their images as
/// data: URIs), no scripts, no network, no other file — so the page can be mailed or attached
/// alone. Headings, paragraphs, bullet lists, tables, banners and figures; hovering a figure's
/// marks shows their exact values (SVG `<title>`s); it prints with each figure on one page.

#include <cctype>
#include <string>
#include <vector>

#include "tinydl/io/file.hpp"
#include "tinydl/viz/figure.hpp"

namespace tinydl::viz {

/// Builds the page in order; every text argument is escaped.
class HtmlReport {
 public:
  explicit HtmlReport(std::string title) : title_(std::move(title)) {}

  /// A section heading; level-2 headings are listed in the page's contents.
  void heading(const std::string& text, int level = 2) {
    const std::string tag = "h" + std::to_string(level), id = "s" + std::to_string(contents_.size() + 1);
    if (level == 2) contents_.push_back(text);
    body_ +=
        "<" + tag + (level == 2 ? " id=\"" + id + "\"" : "") + ">" + html_escape(text) + "</" + tag + ">\n";
  }
  /// A highlighted box under the page's title, above everything else, for what a reader must not miss.
  void banner(const std::string& text) { banners_ += "<p class=\"banner\">" + html_escape(text) + "</p>\n"; }
  void paragraph(const std::string& text) { body_ += "<p>" + html_escape(text) + "</p>\n"; }
  void bullets(const std::vector<std::string>& items) {
    body_ += "<ul>\n";
    for (const auto& item : items) body_ += "  <li>" + html_escape(item) + "</li>\n";
    body_ += "</ul>\n";
  }
  /// A table; the first column is a row header. Cells that start with a number are right-aligned
  /// (digits line up), text cells left-aligned.
  void table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
    body_ += "<table>\n  <tr>";
    for (const auto& h : header) body_ += "<th>" + html_escape(h) + "</th>";
    body_ += "</tr>\n";
    for (const auto& row : rows) {
      body_ += "  <tr>";
      for (std::size_t i = 0; i < row.size(); ++i)
        body_ += (i == 0            ? "<th scope=\"row\">"
                  : numeric(row[i]) ? "<td class=\"num\">"
                                    : "<td>") +
                 html_escape(row[i]) + (i == 0 ? "</th>" : "</td>");
      body_ += "</tr>\n";
    }
    body_ += "</table>\n";
  }
  /// A figure, inline as SVG, scaled down to the page's width, with a caption.
  void figure(const Figure& figure, const std::string& caption) {
    body_ += "<figure>\n" + figure.svg(caption) + "\n<figcaption>" + html_escape(caption) +
             "</figcaption></figure>\n";
  }

  std::string html() const {
    return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" +
           html_escape(title_) +
           "</title>\n<style>\n"
           "body { font-family: system-ui, sans-serif; max-width: 1400px; margin: 2em auto; padding: 0 1em; "
           "color: #222; }\n"
           "table { border-collapse: collapse; margin: 1em 0; }\n"
           "th, td { border: 1px solid #ccc; padding: 0.35em 0.8em; text-align: left; vertical-align: top; "
           "}\n"
           "td.num { text-align: right; font-variant-numeric: tabular-nums; }\n"
           "th { background: #f2f2f2; }\n"
           "figure { margin: 1.5em 0; break-inside: avoid; }\n"
           "figure svg { max-width: 100%; height: auto; border: 1px solid #ddd; }\n"
           "figure circle:hover, figure rect:hover { stroke: #000; stroke-width: 2; }\n"
           "figcaption { color: #555; font-size: 0.9em; }\n"
           ".banner { background: #fff3cd; border: 2px solid #c58f00; padding: 0.8em 1em; font-weight: bold; "
           "}\n"
           "nav ol { columns: 2; }\n"
           "@media print { body { max-width: none; margin: 0; } nav { display: none; } "
           "h2 { break-after: avoid; } table { break-inside: avoid; } }\n"
           "</style>\n</head>\n<body>\n<h1>" +
           html_escape(title_) + "</h1>\n" + banners_ + contents() + body_ + "</body>\n</html>\n";
  }

  /// Writes the page atomically. Throws `IoError` on failure.
  void write(const std::string& path) const {
    const std::string text = html();
    io::write_file_atomically(path, text.data(), text.size());
  }

 private:
  static bool numeric(const std::string& cell) {
    const std::size_t first = cell.find_first_not_of("+-");
    return first != std::string::npos && first < 2 &&
           (std::isdigit(static_cast<unsigned char>(cell[first])) || cell[first] == '.');
  }

  std::string contents() const {
    if (contents_.size() < 3) return "";
    std::string out = "<nav><ol>\n";
    for (std::size_t i = 0; i < contents_.size(); ++i)
      out += "  <li><a href=\"#s" + std::to_string(i + 1) + "\">" + html_escape(contents_[i]) + "</a></li>\n";
    return out + "</ol></nav>\n";
  }

  std::string title_;
  std::string banners_, body_;
  std::vector<std::string> contents_;
};

}  // namespace tinydl::viz
