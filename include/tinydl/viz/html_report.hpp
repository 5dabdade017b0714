#pragma once
/// @file html_report.hpp
/// `HtmlReport`: a self-contained HTML page (inline CSS, no scripts, no network) with headings,
/// paragraphs, tables and figures referenced by relative path, so the report's folder can be
/// copied or zipped as it is.

#include <string>
#include <vector>

#include "tinydl/io/file.hpp"

namespace tinydl::viz {

/// `text` with &, <, >, " escaped for HTML.
inline std::string html_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

/// Builds the page in order; every text argument is escaped.
class HtmlReport {
 public:
  explicit HtmlReport(std::string title) : title_(std::move(title)) {}

  void heading(const std::string& text, int level = 2) {
    const std::string tag = "h" + std::to_string(level);
    body_ += "<" + tag + ">" + html_escape(text) + "</" + tag + ">\n";
  }
  void paragraph(const std::string& text) { body_ += "<p>" + html_escape(text) + "</p>\n"; }
  void bullets(const std::vector<std::string>& items) {
    body_ += "<ul>\n";
    for (const auto& item : items) body_ += "  <li>" + html_escape(item) + "</li>\n";
    body_ += "</ul>\n";
  }
  /// A table; the first column is a row header.
  void table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
    body_ += "<table>\n  <tr>";
    for (const auto& h : header) body_ += "<th>" + html_escape(h) + "</th>";
    body_ += "</tr>\n";
    for (const auto& row : rows) {
      body_ += "  <tr>";
      for (std::size_t i = 0; i < row.size(); ++i)
        body_ +=
            (i == 0 ? "<th scope=\"row\">" : "<td>") + html_escape(row[i]) + (i == 0 ? "</th>" : "</td>");
      body_ += "</tr>\n";
    }
    body_ += "</table>\n";
  }
  /// An image file in the report's folder, shown at its natural size, with a caption.
  void figure(const std::string& file, const std::string& caption) {
    body_ += "<figure><img src=\"" + html_escape(file) + "\" alt=\"" + html_escape(caption) +
             "\"><figcaption>" + html_escape(caption) + "</figcaption></figure>\n";
  }

  std::string html() const {
    return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" +
           html_escape(title_) +
           "</title>\n<style>\n"
           "body { font-family: system-ui, sans-serif; max-width: 1400px; margin: 2em auto; padding: 0 1em; "
           "color: #222; }\n"
           "table { border-collapse: collapse; margin: 1em 0; }\n"
           "th, td { border: 1px solid #ccc; padding: 0.35em 0.8em; text-align: right; }\n"
           "th { background: #f2f2f2; } th[scope=row] { text-align: left; }\n"
           "figure { margin: 1.5em 0; } img { max-width: 100%; border: 1px solid #ddd; }\n"
           "figcaption { color: #555; font-size: 0.9em; }\n"
           "</style>\n</head>\n<body>\n<h1>" +
           html_escape(title_) + "</h1>\n" + body_ + "</body>\n</html>\n";
  }

  /// Writes the page atomically. Throws `IoError` on failure.
  void write(const std::string& path) const {
    const std::string text = html();
    io::write_file_atomically(path, text.data(), text.size());
  }

 private:
  std::string title_;
  std::string body_;
};

}  // namespace tinydl::viz
