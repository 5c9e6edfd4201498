# <torch/torch.h> costs 30-45 s of parsing per translation unit; precompiling it once per target
# cuts a clean build of the core several-fold. Files that never include torch skip the header so
# they stay cheap and do not depend on it.
function(directrix_torch_pch target)
  target_precompile_headers(${target} PRIVATE <torch/torch.h>)
  get_target_property(sources ${target} SOURCES)
  foreach(source IN LISTS sources)
    get_filename_component(path ${source} ABSOLUTE BASE_DIR ${CMAKE_CURRENT_SOURCE_DIR})
    file(STRINGS ${path} torch_includes REGEX "#include [<\"](torch/|model/|activations/|discovery/|analysis/|tcav/|conceptworld/|labeling/)")
    if(NOT torch_includes)
      set_source_files_properties(${source} TARGET_DIRECTORY ${target}
        PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
    endif()
  endforeach()
endfunction()
