#pragma once
// Image-level concept labels for INVERT from a tags file, one image per line:
//   image,tag,tag,...
// e.g. "shoes/0001.png,sandal,strap". Fields are trimmed of spaces; blank lines and lines
// starting with '#' are skipped; a first line whose first field is "image" is a header; an image
// may have no tags (then every concept is absent). Quoting is not supported, so names cannot
// contain commas. Images are matched to the list by exact name (as in an activation cache's
// files.txt).
#include <string>
#include <vector>

#include "labeling/label_matrix.h"

namespace dx {

struct ImageTags {
  LabelMatrix labels;                      // images.size() x tags, tags sorted by name
  std::vector<std::string> unknownImages;  // named in the file but not in the list (ignored)
  std::vector<std::string> untaggedImages; // in the list but not in the file (all tags absent)
};

// Reads `path` for the images in `images` (row i of the labels = images[i]). Throws UserError
// naming the file and the line on malformed input (an empty image or tag field, a quote, an
// image listed twice), and when no line names an image of the list.
ImageTags readImageTags(const std::string& path, const std::vector<std::string>& images);

}  // namespace dx
