#include "labeling/image_tags.h"

#include <fstream>
#include <map>
#include <set>
#include <unordered_map>

#include "base/progress.h"

namespace dx {
namespace {

std::string trimmed(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

std::vector<std::string> fields(const std::string& line) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t comma = line.find(',', start);
    out.push_back(trimmed(line.substr(start, comma - start)));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

struct Row {
  size_t line = 0;
  std::vector<std::string> tags;
};

// image -> its tags, in file order, with the checks that need only the file.
std::map<std::string, Row> parse(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UserError(path + ": cannot be opened; give a CSV of image,tag,tag,... lines.");
  std::map<std::string, Row> rows;
  std::string line;
  for (size_t number = 1; std::getline(in, line); ++number) {
    std::string where = path + ":" + std::to_string(number) + ": ";
    if (trimmed(line).empty() || trimmed(line)[0] == '#') continue;
    if (line.find('"') != std::string::npos)
      throw UserError(where + "quoted fields are not supported; use names without commas "
                      "or quotes.");
    auto f = fields(line);
    if (rows.empty() && f[0] == "image") continue;  // header
    if (f[0].empty()) throw UserError(where + "the first field (the image name) is empty.");
    for (size_t k = 1; k < f.size(); ++k)
      if (f[k].empty())
        throw UserError(where + "tag " + std::to_string(k) + " is empty; remove the extra comma.");
    auto [it, inserted] = rows.emplace(f[0], Row{number, {f.begin() + 1, f.end()}});
    if (!inserted)
      throw UserError(where + "image \"" + f[0] + "\" is listed again (first on line " +
                      std::to_string(it->second.line) + "); put all its tags on one line.");
  }
  return rows;
}

}  // namespace

ImageTags readImageTags(const std::string& path, const std::vector<std::string>& images) {
  auto rows = parse(path);
  std::unordered_map<std::string, size_t> index;
  for (size_t i = 0; i < images.size(); ++i) index.emplace(images[i], i);
  std::set<std::string> tagSet;
  for (const auto& [image, row] : rows) tagSet.insert(row.tags.begin(), row.tags.end());
  std::vector<std::string> tags(tagSet.begin(), tagSet.end());
  std::map<std::string, size_t> tagIndex;
  for (size_t j = 0; j < tags.size(); ++j) tagIndex[tags[j]] = j;

  ImageTags out{LabelMatrix(images.size(), tags), {}, {}};
  std::vector<bool> listed(images.size(), false);
  for (const auto& [image, row] : rows) {
    auto it = index.find(image);
    if (it == index.end()) {
      out.unknownImages.push_back(image);
      continue;
    }
    listed[it->second] = true;
    for (const auto& t : row.tags) out.labels.set(it->second, tagIndex[t]);
  }
  for (size_t i = 0; i < images.size(); ++i)
    if (!listed[i]) out.untaggedImages.push_back(images[i]);
  if (!images.empty() && out.untaggedImages.size() == images.size())
    throw UserError(path + ": no line names one of the " + std::to_string(images.size()) +
                    " images (e.g. \"" + images[0] + "\"); the first field must be the image "
                    "name exactly as in the image list.");
  return out;
}

}  // namespace dx
