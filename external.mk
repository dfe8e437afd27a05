include $(sort $(wildcard $(BR2_EXTERNAL_RAMZSWAP_PATH)/package/*/*.mk))
