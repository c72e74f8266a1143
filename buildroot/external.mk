include $(sort $(wildcard $(BR2_EXTERNAL_FOTAD_PATH)/package/*/*.mk))
