file(READ ${INPUT} content)
file(WRITE ${OUTPUT} "#include <string_view>\nnamespace relay {\nextern const std::string_view ${SYMBOL};\nconst std::string_view ${SYMBOL} = R\"__embedded__(${content})__embedded__\";\n}\n")
