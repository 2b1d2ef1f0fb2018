# Stand-in for an integration test whose tool was not found at configure time: fails
# loudly instead of letting CI skip the test. Run with -DTOOL=... -DHINT=...
message(FATAL_ERROR "${TOOL} was not found when CMake configured this build, so this test "
                    "cannot run. ${HINT} Then re-run cmake (the tool is looked up again).")
