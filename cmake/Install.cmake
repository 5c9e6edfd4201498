# What `cmake --install` and the Debian package (packaging/package.sh) put on a system:
# the binaries in bin/, the demo models in share/directrix/demo (found there by
# core/data/demo.cpp, relative to the executable), and the desktop integration: a .desktop
# entry, AppStream metainfo, a MIME type for project files and their icons.
include(GNUInstallDirs)

install(TARGETS directrix-cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES resources/demo/fashion_cnn.pt resources/demo/conceptworld_cnn.pt
        DESTINATION ${CMAKE_INSTALL_DATADIR}/directrix/demo)

if(NOT DIRECTRIX_GUI)
  return()
endif()

set(DIRECTRIX_APP_ID org.directrix.Directrix)
set(desktop_dir ${PROJECT_SOURCE_DIR}/resources/desktop)
install(TARGETS directrix RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${desktop_dir}/${DIRECTRIX_APP_ID}.desktop
        DESTINATION ${CMAKE_INSTALL_DATADIR}/applications)
install(FILES ${desktop_dir}/${DIRECTRIX_APP_ID}.metainfo.xml
        DESTINATION ${CMAKE_INSTALL_DATADIR}/metainfo)
install(FILES ${desktop_dir}/${DIRECTRIX_APP_ID}.mime.xml
        DESTINATION ${CMAKE_INSTALL_DATADIR}/mime/packages RENAME ${DIRECTRIX_APP_ID}.xml)
install(FILES ${desktop_dir}/${DIRECTRIX_APP_ID}.svg
        DESTINATION ${CMAKE_INSTALL_DATADIR}/icons/hicolor/scalable/apps)
install(FILES ${desktop_dir}/application-x-directrix-project.svg
        DESTINATION ${CMAKE_INSTALL_DATADIR}/icons/hicolor/scalable/mimetypes)

# PNG sizes for menus and docks that do not draw SVG; rendered from the SVGs at build time,
# so git holds only the sources.
find_program(RSVG_CONVERT rsvg-convert)
if(NOT RSVG_CONVERT)
  message(WARNING "rsvg-convert not found (Debian package librsvg2-bin): no PNG icons")
  return()
endif()
set(icon_pngs)
foreach(size 16 32 48 64 128 256)
  foreach(pair "apps;${DIRECTRIX_APP_ID}" "mimetypes;application-x-directrix-project")
    list(GET pair 0 context)
    list(GET pair 1 name)
    set(png ${CMAKE_BINARY_DIR}/icons/${size}x${size}/${context}/${name}.png)
    add_custom_command(OUTPUT ${png}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/icons/${size}x${size}/${context}
      COMMAND ${RSVG_CONVERT} -w ${size} -h ${size} -o ${png} ${desktop_dir}/${name}.svg
      DEPENDS ${desktop_dir}/${name}.svg VERBATIM)
    list(APPEND icon_pngs ${png})
    install(FILES ${png} DESTINATION ${CMAKE_INSTALL_DATADIR}/icons/hicolor/${size}x${size}/${context})
  endforeach()
endforeach()
add_custom_target(desktop_icons ALL DEPENDS ${icon_pngs})
