#pragma once
#include <QString>  // deliberately wrong: the layering test must catch this
