# The Debian package, built by CPack (packaging/package.sh). Run-time dependencies are computed
# from the binaries by dpkg-shlibdeps; the ones no binary links are listed by hand: the
# Fashion-MNIST images of the demo, the threaded OpenBLAS LibTorch needs to be fast (about 50x
# on Linear), and Qt's platform plugins for the window.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME directrix)
set(CPACK_PACKAGE_VENDOR Directrix)
set(CPACK_PACKAGE_CONTACT "Directrix developers <maintainers@directrix.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "explore the concepts a vision network uses")
# The synopsis line, then the long description (CPack indents it for the control file).
set(CPACK_PACKAGE_DESCRIPTION
"Directrix opens a TorchScript vision model and a folder of images, recovers
the concepts a layer uses as encoding-decoding direction pairs (EDDP), names
them, measures their influence on each class and lets you switch them off
live. A headless command line, directrix-cli, runs the same core.")
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(extra_depends "dataset-fashion-mnist, libopenblas0-pthread")
if(DIRECTRIX_GUI)
  string(APPEND extra_depends ", qt6-qpa-plugins")
endif()
set(CPACK_DEBIAN_PACKAGE_DEPENDS "${extra_depends}")
include(CPack)
