"""The staff side's work on content: transcripts, segment work (one state machine for review and
translation), review, translation, glossary, marks, access copies. Never imported by the public
side or by records."""
