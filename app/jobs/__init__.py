"""Jobs on SQS: one core (``runner``) shared by the Lambda handler and the container worker."""
